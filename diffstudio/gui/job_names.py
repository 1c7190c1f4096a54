"""The runner slots jobs run in: a job replaces a queued or running one of its slot, and the slot's name is what
the status bar shows. (The jobs themselves are asked for by request: diffstudio.core.jobs.requests.)"""

# runner slots
DEVICE = "device"
TRAINING = "train"
DISTILLING = "distil"  # a run's students, round by round
READING_IMAGES = "read images"
MEASURING_SPEED = "measure speed"
SAMPLING = "sample"
MEASURING_SAMPLING = "measure sampling"  # one model call timed: the Sample panel's estimate before starting
COMPARING = "compare samplers"
EDITING = "edit"
EVALUATING = "evaluate"
PLAYING = "playground"
PLAYGROUND_VIEW = "playground view"  # the data at the t slider's step, beside a running training
PLAYGROUND_FIELD = "playground field"  # the models' denoising field at the t slider's step
INTERPOLATING = "interpolate"
FORWARD = "forward"
CHECKPOINTS = "checkpoints"  # exports and imports of diffusers folders
DOWNLOADING = "download"  # a model from the Hugging Face Hub, imported as a run
RUN_LIST = "runs list"
RUN_FILES = "run files"  # rename, delete, duplicate, copy
