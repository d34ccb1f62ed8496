/* Host shim: lets ionc's CUDA kernel source compile as C++ for the CPU, so that
 * its arithmetic and indexing run in CI without a GPU.  The test driver sets
 * the grid with ionc_shim_set() and calls each kernel once per (block, thread). */
#pragma once
#include <cmath>
#include <cstdint>
#include <cfloat>
#include <math.h>

#define __global__
#define __device__
#define __forceinline__ inline

struct ionc_dim3 { unsigned int x, y, z; };
static ionc_dim3 threadIdx, blockIdx, blockDim, gridDim;

static inline unsigned long long atomicAdd(unsigned long long *address, unsigned long long v)
{
    unsigned long long old = *address;
    *address = old + v;
    return old;
}

extern "C" void ionc_shim_set(unsigned int block, unsigned int thread, unsigned int block_dim,
                              unsigned int grid_dim)
{
    blockIdx = {block, 0, 0};
    threadIdx = {thread, 0, 0};
    blockDim = {block_dim, 1, 1};
    gridDim = {grid_dim, 1, 1};
}
