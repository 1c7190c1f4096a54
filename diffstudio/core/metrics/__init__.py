"""Measures of a model's samples against real images, on feature vectors (one row per image): the Fréchet
distance, KID, precision/recall and density/coverage, and the nearest training images of each sample (is it
copying?). Torch, no Qt; `diffstudio.core.evaluate` chooses the features and puts them together."""
