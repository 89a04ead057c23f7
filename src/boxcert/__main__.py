from boxcert.cli import main

main()
