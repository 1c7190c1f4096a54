"""The jobs the GUI runs, by name: torch stays out of the GUI thread, so the worker looks each function up in its
own thread (test_boundaries checks that every name exists), and the runner slots they run in (a job replaces a
queued or running one of its slot; the slot's name is what the status bar shows)."""

# functions of diffstudio.core.jobs, run by the worker that owns the model and the device
DEVICE_JOB = "device_job"
SAMPLE_JOB = "sample_job"
VARY_JOB = "vary_job"
COMPARE_JOB = "compare_job"
INPAINT_JOB = "inpaint_job"
SDEDIT_JOB = "sdedit_job"
INTERPOLATE_JOB = "interpolate_job"
FORWARD_JOB = "forward_job"
DATASET_JOB = "dataset_job"
SPEED_JOB = "speed_job"
TRAIN_JOB = "train_job"
EXPORT_DIFFUSERS_JOB = "export_diffusers_job"
IMPORT_DIFFUSERS_JOB = "import_diffusers_job"
EVALUATE_JOB = "evaluate_job"
TOY_JOB = "toy_job"
TOY_NOISED_JOB = "toy_noised_job"
TOY_PATHS_JOB = "toy_paths_job"
TOY_FIELD_JOB = "toy_field_job"
CORE_JOB_NAMES = (DEVICE_JOB, SAMPLE_JOB, VARY_JOB, COMPARE_JOB, INPAINT_JOB, SDEDIT_JOB, INTERPOLATE_JOB,
                  FORWARD_JOB, DATASET_JOB, SPEED_JOB, TRAIN_JOB, EXPORT_DIFFUSERS_JOB, IMPORT_DIFFUSERS_JOB,
                  EVALUATE_JOB, TOY_JOB, TOY_NOISED_JOB, TOY_PATHS_JOB, TOY_FIELD_JOB)

# functions of diffstudio.core.storage.run_jobs (torch-free), run by the run-folder runner
LIST_RUNS_JOB = "list_runs_job"
RENAME_RUN_JOB = "rename_run_job"
DELETE_RUN_JOB = "delete_run_job"
DUPLICATE_RUN_JOB = "duplicate_run_job"
COPY_RUN_JOB = "copy_run_job"
RUN_FOLDER_JOB_NAMES = (LIST_RUNS_JOB, RENAME_RUN_JOB, DELETE_RUN_JOB, DUPLICATE_RUN_JOB, COPY_RUN_JOB)

# runner slots
DEVICE = "device"
TRAINING = "train"
READING_IMAGES = "read images"
MEASURING_SPEED = "measure speed"
SAMPLING = "sample"
COMPARING = "compare samplers"
EDITING = "edit"
EVALUATING = "evaluate"
PLAYING = "playground"
PLAYGROUND_VIEW = "playground view"  # the data at the t slider's step, beside a running training
PLAYGROUND_FIELD = "playground field"  # the models' denoising field at the t slider's step
INTERPOLATING = "interpolate"
FORWARD = "forward"
CHECKPOINTS = "checkpoints"  # exports and imports of diffusers folders
RUN_LIST = "runs list"
RUN_FILES = "run files"  # rename, delete, duplicate, copy
