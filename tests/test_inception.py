"""Issue 14: the Inception-v3 path. Its weights come from a safetensors file only (never a pickle), and with them
the features, FD and KID are torch-fidelity's. The last tests need torch-fidelity (and so torchvision), which the
default install leaves out: they run where it is installed (see benchmarks/README.md, "Inception"), on a stand-in
Inception with seeded random weights, since the real ones are a download."""

import pickle

import pytest
import torch
from helpers import assert_clear_error, run_cli

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.evaluate import as_model_range, measure
from diffstudio.core.evaluate_settings import INCEPTION_VARIABLE, EvaluateSettings
from diffstudio.core.metrics import inception
from diffstudio.core.metrics.features import extract
from diffstudio.core.metrics.frechet import frechet_distance
from diffstudio.core.metrics.kid import kernel_inception_distance


class Trap:
    """Unpickling this writes a file: the proof that a pickle was opened."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_is_refused_unopened_with_the_command_that_converts_it(tmp_path):
    weights, marker = tmp_path / "weights-inception.pth", tmp_path / "opened"
    weights.write_bytes(pickle.dumps(Trap(marker)))
    with pytest.raises(DiffstudioError, match="never opens") as error:
        inception.inception_weights(weights)
    assert not marker.exists()
    message = str(error.value)
    assert "weights_only=True" in message and str(tmp_path / "weights-inception.safetensors") in message


def test_missing_weights_point_to_the_libraries_cache_when_it_holds_them(tmp_path, monkeypatch):
    target = tmp_path / "mine" / "inception.safetensors"
    monkeypatch.setenv(INCEPTION_VARIABLE, str(target))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(DiffstudioError, match="Download https://github.com/toshas/torch-fidelity") as error:
        inception.inception_weights()
    assert str(target) in str(error.value)
    cached = tmp_path / "hub" / "checkpoints" / inception.LIBRARY_CACHE_NAMES[1]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not read")
    with pytest.raises(DiffstudioError, match="holds them as a pickle") as error:
        inception.inception_weights()
    assert f"torch.load('{cached}', weights_only=True), '{target}'" in str(error.value)


def test_a_damaged_weights_file_is_named(tmp_path):
    weights = tmp_path / "inception.safetensors"
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(DiffstudioError, match="truncated or not a safetensors file"):
        inception.inception_weights(weights)


def test_the_cli_refuses_inception_weights_before_drawing_a_sample(tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    result = run_cli("evaluate", "--checkpoint", "demo", "--features", "inception", "--inception", weights,
                     "--n", "100000", ok=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    what, command = result.stderr.strip().splitlines()  # the reason, then the command to copy
    assert "is a pickle" in what and command.strip().startswith("python -c")
    assert_clear_error(run_cli("evaluate", "--checkpoint", "demo", "--inception", weights, ok=False),
                       "--features inception")


def test_without_torch_fidelity_the_error_says_what_to_install(tmp_path):
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torch-fidelity is installed here")
    from safetensors.torch import save_file

    save_file({"fc.bias": torch.zeros(1008)}, tmp_path / "w.safetensors")
    with pytest.raises(DiffstudioError, match="pip install torch-fidelity"):
        inception.inception_extractor(tmp_path / "w.safetensors")


# --- with torch-fidelity ---


def stand_in_weights() -> dict[str, torch.Tensor]:
    """torch-fidelity's Inception-v3 state with seeded He-normal convolutions (activations keep their scale
    through 94 layers) and identity batch norms: its own initialisation without the download."""
    module = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(module.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        network = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, tensor in network.state_dict().items():
        if name.endswith("conv.weight"):
            fan_in = tensor[0].numel()
            tensor = torch.randn(tensor.shape, generator=generator) * (2 / fan_in) ** 0.5
        state[name] = tensor.contiguous()
    return state


def image_sets(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    real = torch.randint(0, 256, (count, 1, 28, 28), generator=g, dtype=torch.uint8)
    fake = (real.float() * 0.7 + 40 + torch.rand(real.shape, generator=g) * 40).clamp(0, 255).to(torch.uint8)
    return real, fake


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    """The stand-in's weights as diffstudio reads them (safetensors) and as torch-fidelity does (its own .pth,
    written by this test)."""
    from safetensors.torch import save_file

    state, folder = stand_in_weights(), tmp_path_factory.mktemp("inception")
    save_file(state, folder / "inception.safetensors")
    torch.save(state, folder / "inception.pth")
    return folder / "inception.safetensors", folder / "inception.pth"


def test_features_fd_and_kid_are_torch_fidelitys_on_the_same_network(weights_files):
    import torch_fidelity

    ours_file, theirs_file = weights_files
    real, fake = image_sets(80)
    extractor = inception.inception_extractor(ours_file)
    f_real, f_fake = (extract(extractor, as_model_range(images), batch=40) for images in (real, fake))
    assert f_real.shape == (80, 2048) and float(f_real.std()) > 0

    theirs = torch_fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                        feature_extractor_weights_path=str(theirs_file))
    with torch.no_grad():
        (their_real,) = theirs(real.expand(-1, 3, -1, -1))
    assert torch.allclose(f_real, their_real, rtol=1e-5, atol=1e-6)

    metrics = torch_fidelity.calculate_metrics(
        input1=TensorImages(fake), input2=TensorImages(real), fid=True, kid=True, kid_subsets=200, kid_subset_size=40,
        feature_extractor_weights_path=str(theirs_file), batch_size=40, cuda=False, cache=False, verbose=False)
    assert frechet_distance(f_fake.double().numpy(), f_real.double().numpy()) == pytest.approx(
        metrics["frechet_inception_distance"], rel=1e-3)
    ours = kernel_inception_distance(f_real, f_fake, subsets=200, subset_size=40)
    their_mean, their_std = metrics["kernel_inception_distance_mean"], metrics["kernel_inception_distance_std"]
    # different random subsets: the means agree within a few standard errors of a 200-subset mean
    assert ours.mean == pytest.approx(their_mean, abs=4 * their_std / 200 ** 0.5)
    assert ours.std == pytest.approx(their_std, rel=0.25)


def test_evaluate_measures_on_inception_features_and_rejects_foreign_weights(weights_files, tmp_path):
    from safetensors.torch import save_file

    real, fake = image_sets(24)
    settings = EvaluateSettings(samples=24, features="inception", inception=str(weights_files[0]))
    evaluation = measure(fake, real, settings)
    assert evaluation.model.manifold.real == 12 and evaluation.model.kid.mean > evaluation.floor.kid.mean
    save_file({"fc.bias": torch.zeros(1008)}, tmp_path / "foreign.safetensors")
    with pytest.raises(DiffstudioError, match="not the FID Inception-v3 weights"):
        inception.inception_extractor(tmp_path / "foreign.safetensors")


class TensorImages(torch.utils.data.Dataset):
    """uint8 (N, 1, H, W) images as torch-fidelity reads an input: (3, H, W) uint8 each."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].expand(3, -1, -1)
