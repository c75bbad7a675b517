"""Which x86-64 level this CPU supports (compiled for the baseline, safe to import anywhere)."""

cdef extern from *:
    """
    static int deepinit_x86_level(void) {
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
    #if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
        /* Exactly the feature sets that -march=x86-64-vN may use. */
        if (__builtin_cpu_supports("x86-64-v4")) return 4;
        if (__builtin_cpu_supports("x86-64-v3")) return 3;
    #else
        int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                 && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c")
                 && __builtin_cpu_supports("movbe");
        int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                 && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
                 && __builtin_cpu_supports("avx512vl");
        if (v4) return 4;
        if (v3) return 3;
    #endif
        return 1;
    #else
        return 0;
    #endif
    }

    static int deepinit_cpu_is_intel(void) {
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        return __builtin_cpu_is("intel");
    #else
        return 0;
    #endif
    }
    """
    int deepinit_x86_level()
    int deepinit_cpu_is_intel()


def x86_level():
    """The x86-64 micro-architecture level of this CPU: 1 to 4, or 0 when not x86-64."""
    return deepinit_x86_level()


def is_intel():
    """Whether this is an Intel x86-64 CPU (whose AVX-512 FMA units are 512 bits wide)."""
    return bool(deepinit_cpu_is_intel())
