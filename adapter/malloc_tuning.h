// How the adapter sets up glibc's malloc, before any thread starts (main,
// and the benchmarks that measure what main runs).
#pragma once

namespace kad::adapter {

// glibc maps each allocation from 128 KiB (a remote-write body, a read's
// answer) afresh and unmaps it when freed, and returns free memory past
// 128 KiB at the top of a heap: every big request then faults its pages in
// again, which was a fifth of a large remote read. Fixed thresholds (32 MiB
// to map, 64 MiB to trim) keep that memory for the next request.
// Heaps also grow by 64 MiB at a time. A thread's heap is then made whole
// when it is created, which is when glibc asks huge pages for it (see
// below): otherwise only the main heap has them, and the threads that
// restore a million models fill 2.7 GB of their own.
void TuneMalloc();

// Runs this binary again, the same pid and arguments, with glibc's
// `glibc.malloc.hugetlb=1` tunable added to GLIBC_TUNABLES, unless it is
// set there already (the operator's choice is kept) or the binary cannot
// be found (then it returns, and the process carries on as it was). A
// tunable is read only as a process starts, hence the exec; call it first
// thing in main. With it, malloc's heaps ask for transparent huge pages
// (the kernel's `madvise` mode, Debian's default): a restart with a million
// series builds 3.5 GB of models, and faulting that in 4 KiB pages was a
// third of its time on a virtual machine (15 s against 9 with them all).
void ReexecWithHugePages(char** argv);

}  // namespace kad::adapter
