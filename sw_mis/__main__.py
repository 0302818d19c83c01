from sw_mis.cli import main

main()
