"""The CMake step of `pip install .` (pyproject.toml holds the metadata): configures the project without tests and
benchmarks in build-pip/, builds the target _rembert and puts the module into the wheel's rembert package."""
import os
import pathlib
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent
(ROOT / "build-pip").mkdir(exist_ok=True)  # egg_base below must exist


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        # REMBERT_BUILD_DIR: reuse a configured build tree (e.g. build/ of the same Python) instead of build-pip/.
        build_dir = pathlib.Path(os.environ.get("REMBERT_BUILD_DIR", ROOT / "build-pip")).resolve()
        configure = ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                     f"-DPython3_EXECUTABLE={sys.executable}", "-DREMBERT_BUILD_PYTHON=ON",
                     "-DREMBERT_BUILD_TESTS=OFF", "-DREMBERT_BUILD_BENCH=OFF"]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        configure += os.environ.get("REMBERT_CMAKE_ARGS", "").split()
        if not (build_dir / "CMakeCache.txt").exists():
            subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_rembert", "-j", jobs], check=True)
        built = next((build_dir / "python" / "rembert").glob("_rembert*.so"))
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, target)


# setuptools' own scratch goes under build-pip/ too: build/ is the CMake build tree of the README.
setup(ext_modules=[Extension("rembert._rembert", sources=[])], cmdclass={"build_ext": CMakeBuild},
      options={"build": {"build_base": "build-pip/setuptools"}, "egg_info": {"egg_base": "build-pip"}})
