# the emulator fixtures of the unit tier (no root needed for them; the tests here need it)
from tests.unit.k8s.conftest import emu, kubeconfig, make_sources  # noqa: F401
