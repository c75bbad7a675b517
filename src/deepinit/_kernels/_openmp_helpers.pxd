# The one place that touches OpenMP. Every kernel module cimports from here, so a
# compiler without OpenMP only needs the serial stubs below (as in scikit-learn's
# sklearn/utils/_openmp_helpers.pxd).

cdef extern from *:
    """
    #ifdef _OPENMP
        #include <omp.h>
        #define DEEPINIT_OPENMP_ENABLED 1
    #else
        #define DEEPINIT_OPENMP_ENABLED 0
        static int omp_get_thread_num(void) { return 0; }
        static int omp_get_max_threads(void) { return 1; }
        static int omp_get_num_procs(void) { return 1; }
    #endif
    """
    bint DEEPINIT_OPENMP_ENABLED
    int omp_get_thread_num() noexcept nogil
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_procs() noexcept nogil
