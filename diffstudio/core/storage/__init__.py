"""What lives on disk: run folders and their listing, checkpoints (safetensors + JSON, written atomically), the
training lock and diffusers interop. The modules the GUI thread reads (run_folder, runs, run_lock, atomic,
safetensors_io) are torch-free."""
