"""Where colorize work runs: this machine's worker processes or `heirloom worker`s behind Redis (`backend`)."""
