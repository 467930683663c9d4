#include "kernels/skinning_impl.h"
