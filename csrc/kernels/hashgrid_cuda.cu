#include "kernels/hashgrid_impl.h"
