"""Builds the word2vec training op (trainer/word2vec/fused_kernels.cc) against the installed
TensorFlow's headers and library; everything else is in pyproject.toml.

TensorFlow must be importable when this runs: install the lock first, then this package
with --no-build-isolation (scripts/setup_env.sh, the Dockerfiles). The op is loaded with
tf.load_op_library (trainer/word2vec/fused.py), not imported as a Python module.
"""
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# TensorFlow's pip wheels themselves require AVX, so the op may too; -march=native would
# tie the pipeline image to the build machine's CPU. -ffast-math lets the compiler vectorize
# the dot products' sums (reassociation); -fno-finite-math-only keeps NaN and infinity
# real, so the op's check for diverged (non-finite) logits is not compiled away.
OPT_FLAGS = ["-O3", "-mavx", "-ffast-math", "-fno-finite-math-only", "-fvisibility=hidden"]


class TensorFlowOpBuild(build_ext):
    def build_extensions(self):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        # -Wstrict-prototypes is for C only (g++ warns about it on every compile).
        self.compiler.compiler_so = [a for a in self.compiler.compiler_so
                                     if a != "-Wstrict-prototypes"]
        for ext in self.extensions:
            ext.extra_compile_args = tf.sysconfig.get_compile_flags() + OPT_FLAGS
            ext.extra_link_args = tf.sysconfig.get_link_flags()
        super().build_extensions()

    def get_export_symbols(self, ext):
        return []  # an op library, not a Python module: no PyInit_ function


setup(
    ext_modules=[Extension("trainer.word2vec._fused_kernels",
                           sources=["trainer/word2vec/fused_kernels.cc"], language="c++")],
    cmdclass={"build_ext": TensorFlowOpBuild},
)
