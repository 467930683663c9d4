#include "kernels/occgrid_impl.h"
