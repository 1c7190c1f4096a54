"""Long-running work as generators of plain data, by use case: sampling, editing, training, evaluation, the
playground, run files (and the device and the forward process). The GUI's worker thread and the CLI run them.

Each job is a function of one typed request (requests.py, torch-free, which names the job's function) that
yields messages (messages.py, torch-free: numpy images, numbers and text, never tensors), so the GUI only
displays. The worker runs one job at a time and can stop it between two yields; this package imports torch,
and the GUI thread never does (the first window does not wait for it). No job keeps state between runs: what a
later job needs (the playground's trained model, a decoded folder) travels in a message and comes back in the
request, opaque to the GUI.
"""
