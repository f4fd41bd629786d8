from trustplane.cli import main

main()
