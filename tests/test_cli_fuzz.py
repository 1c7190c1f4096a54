"""Every command with missing, wrong-typed, out-of-range and nonsensical arguments ends with exit code 1 or 2 and
one line saying what is wrong: never a traceback. Run in-process (fast): an uncaught exception fails the test."""

import numpy as np
import pytest
from PIL import Image

from diffstudio.cli import main


@pytest.fixture
def world(tmp_path, tiny_run):
    """A file, a folder of images, an empty folder, two images and a run to point the commands at."""
    (tmp_path / "file.txt").write_text("just text")
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(images / f"{i}.png")
    (tmp_path / "empty").mkdir()
    return {"FILE": tmp_path / "file.txt", "IMAGES": images, "EMPTY": tmp_path / "empty", "IMG": images / "0.png",
            "RUN": tiny_run, "OUT": tmp_path / "out", "PNG": tmp_path / "out.png", "TMP": tmp_path}


CASES = [
    # missing and wrong-typed
    "train", "train --run r", "train --run r --data IMAGES --steps abc", "sample", "sample --checkpoint RUN",
    "sample --checkpoint RUN --n x --grid PNG", "interpolate --checkpoint RUN", "runs", "runs rename a",
    "import-diffusers", "export-diffusers RUN", "frobnicate",
    # out of range
    "train --run r --data IMAGES --steps -5", "train --run r --data IMAGES --steps 0",
    "train --run r --data IMAGES --batch -1", "train --run r --data IMAGES --lr 5",
    "train --run r --data IMAGES --lr 0",
    "train --run r --data IMAGES --ema-decay 1.5", "train --run r --data IMAGES --resolution 30",
    "train --run r --data IMAGES --resolution 0", "train --run r --data IMAGES --min-snr-gamma -1",
    "train --run r --data IMAGES --zero-terminal-snr --prediction epsilon", "train --run r --data IMAGES --keep 0",
    "sample --checkpoint RUN --n 0 --grid PNG", "sample --checkpoint RUN --n -3 --grid PNG",
    "sample --checkpoint RUN --sampler-steps 0 --grid PNG", "sample --checkpoint RUN --eta 2 --grid PNG",
    "sample --checkpoint RUN --batch 0 --grid PNG", "sample --checkpoint RUN --resolution 33 --grid PNG",
    "interpolate --checkpoint RUN --a IMG --b IMG --t 5000 --out PNG",
    "interpolate --checkpoint RUN --a IMG --b IMG --t -1 --out PNG",
    "interpolate --checkpoint RUN --a IMG --b IMG --lambdas 1 --out PNG",
    # nonsense: a file where a folder is expected and vice versa, names that cannot be runs
    "train --run r --data FILE", "train --run r --data EMPTY", "train --run ../r --data IMAGES",
    "train --run r --resume", "sample --checkpoint FILE --grid PNG", "sample --checkpoint IMAGES --grid PNG",
    "sample --checkpoint EMPTY --grid PNG", "sample --checkpoint RUN --out FILE",
    "sample --checkpoint RUN --grid IMAGES", "interpolate --checkpoint RUN --a IMAGES --b IMG --out PNG",
    "interpolate --checkpoint RUN --a FILE --b IMG --out PNG", "interpolate --checkpoint RUN --a IMG --b IMG --out OUT",
    "runs show nope", "runs rename nope other", "runs rename RUN a/b", "runs rm nope --yes",
    "runs duplicate nope copy", "import-diffusers FILE --out x", "import-diffusers EMPTY --out x",
    "export-diffusers nope --out OUT", "export-diffusers RUN --out FILE", "export-diffusers FILE --out OUT",
    # evaluate (issue 14)
    "evaluate", "evaluate --checkpoint RUN --n x", "evaluate --checkpoint RUN --n 0", "evaluate --checkpoint RUN --n 1",
    "evaluate --checkpoint RUN --n 2", "evaluate --checkpoint RUN --n 3",  # below KID's and the neighbours' least
    "evaluate --checkpoint RUN --batch 0", "evaluate --checkpoint RUN --features bogus",
    "evaluate --checkpoint FILE", "evaluate --checkpoint RUN --data FILE", "evaluate --checkpoint RUN --data EMPTY",
    "evaluate --checkpoint RUN --data IMAGES --n 10", "evaluate --checkpoint RUN --out FILE --data IMAGES",
    "train --run r --data IMAGES --eval-every -1", "train --run r --data IMAGES --eval-samples 2",
    # CPU threads (issue 12)
    "sample --checkpoint RUN --threads 0 --grid PNG", "interpolate --checkpoint RUN --threads many",
    "evaluate --checkpoint RUN --threads -2",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_arguments_end_in_one_line_and_an_exit_code(case, world, capsys):
    argv = [str(world.get(word, word)) for word in case.split()]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code in (1, 2), (case, code, err)
    lines = [line for line in err.splitlines() if not line.startswith(("note:", "reading images"))]
    assert len(lines) == 1 and "Traceback" not in err, (case, err)
    assert "error" in lines[0], (case, err)
