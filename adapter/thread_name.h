// Names for the adapter's threads, as `ps -T`, `top -H`, perf and gdb show
// them: an operator tells the network thread from a shard, or sees which
// one is busy. The main thread keeps the process' name.
#pragma once

#include <string_view>

#include "boost/asio/thread_pool.hpp"

namespace kad::adapter {

// Names the calling thread; the kernel keeps the first 15 bytes.
void NameThisThread(std::string_view name);

// Names the n threads of `pool` prefix-0 .. prefix-(n-1), and returns once
// they are named. Each takes one naming task and holds it until all n are
// taken, so no thread takes two. Call it before the pool gets other work.
void NamePoolThreads(boost::asio::thread_pool& pool, int n, std::string_view prefix);

}  // namespace kad::adapter
