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

// Runs this binary again, the same pid and arguments, with glibc's
// `glibc.malloc.hugetlb=1` tunable added to GLIBC_TUNABLES, unless it is
// set there already (the operator's choice is kept) or the binary cannot
// be found (then it returns, and the process carries on as it was). A
// tunable is read only as a process starts, hence the exec; call it first
// thing in main. With it, malloc's main heap asks for transparent huge
// pages (the kernel's `madvise` mode, Debian's default): a restart with a
// million series builds 3.5 GB of models, and faulting that in 4 KiB pages
// was a fifth of its time on a virtual machine.
void ReexecWithHugePages(char** argv);

}  // namespace kad::adapter
