"""Administration screens: users, offices and areas (admins only)."""
