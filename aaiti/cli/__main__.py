from aaiti.cli import main

main()
