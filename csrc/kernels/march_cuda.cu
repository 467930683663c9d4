#include "kernels/march_impl.h"
