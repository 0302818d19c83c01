"""Background jobs: long work started from the screens, with progress, cancel and a result."""
