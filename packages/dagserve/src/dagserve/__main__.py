from dagserve.cli import main

main()
