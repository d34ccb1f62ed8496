"""setuptools builds in a scratch folder outside the source tree: the top-level build/ is
ionc's own package (ionc.build), and a build must not write into a checkout."""
import tempfile

from setuptools import setup

SCRATCH = tempfile.mkdtemp(prefix="ionc-setuptools-")
setup(options={"build": {"build_base": SCRATCH}, "egg_info": {"egg_base": SCRATCH}})
