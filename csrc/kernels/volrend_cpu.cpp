#include "kernels/volrend_impl.h"
