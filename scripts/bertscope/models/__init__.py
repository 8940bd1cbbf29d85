"""Models: where a checkpoint comes from (the Hub, a directory, the shipped demo), loading it, and the forward
functions the attributions differentiate."""
