"""`python -m tfo`: the same as the `tfo` console script."""

from tfo.daemon.main import main

if __name__ == "__main__":
    main()
