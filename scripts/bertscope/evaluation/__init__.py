"""Evidence about the attributions and the predictions: scoring predictions against gold answers, and the
faithfulness and sanity checks of the maps."""
