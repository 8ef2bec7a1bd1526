"""`make bench` (`python -m bench`): wall-clock figures of slipway against the sandbox, each beside
its baseline, printed, never asserted. Not shipped with slipway."""
