"""``python -m provisioner``."""

from provisioner.cli.main import main

if __name__ == "__main__":
    main()
