"""The persistent compilation cache keeps one folder per CPU kind: XLA:CPU programs compiled for one
CPU's features must not be loaded on another (SIGILL on a heterogeneous cluster sharing a home)."""

import jax

from locomimic.jaxcache import cpu_kind, enable_compilation_cache

CPUINFO = "processor\t: {n}\nvendor_id\t: GenuineIntel\nflags\t\t: {flags}\n\n"


def test_cpu_kind_follows_the_feature_flags_not_their_order_or_core_count(tmp_path):
    def kind(text):
        (tmp_path / "cpuinfo").write_text(text)
        return cpu_kind(tmp_path / "cpuinfo")

    avx512 = kind(CPUINFO.format(n=0, flags="fpu sse2 avx2 avx512f"))
    assert avx512 == kind(CPUINFO.format(n=0, flags="avx512f avx2 fpu sse2") + CPUINFO.format(n=1, flags="x"))
    assert avx512 != kind(CPUINFO.format(n=0, flags="fpu sse2 avx2"))
    assert avx512.split("-")[0] == cpu_kind().split("-")[0]  # the architecture comes first


def test_the_cache_lives_in_this_cpus_folder(tmp_path, monkeypatch):
    previous = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path))
    try:
        path = enable_compilation_cache()
        assert path == tmp_path / cpu_kind() and path.is_dir()
        assert jax.config.jax_compilation_cache_dir == str(path)
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
