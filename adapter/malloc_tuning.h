// How the adapter sets up glibc's malloc, before any thread starts (main,
// and the benchmarks that measure what main runs).
#pragma once

namespace kad::adapter {

// glibc maps each allocation from 128 KiB (a remote-write body, a read's
// answer) afresh and unmaps it when freed, and returns free memory past
// 128 KiB at the top of a heap: every big request then faults its pages in
// again, which was a fifth of a large remote read. Fixed thresholds (32 MiB
// to map, 64 MiB to trim) keep that memory for the next request.
void TuneMalloc();

}  // namespace kad::adapter
