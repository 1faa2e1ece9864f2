#include "adapter/thread_name.h"

#include <pthread.h>

#include <latch>
#include <memory>
#include <string>

#include "boost/asio/post.hpp"

namespace kad::adapter {

void NameThisThread(std::string_view name) {
  constexpr size_t kMaxName = 15;  // TASK_COMM_LEN, less the terminating zero
  const std::string cut(name.substr(0, kMaxName));
  // Only fails for a name too long, which the cut rules out.
  pthread_setname_np(pthread_self(), cut.c_str());
}

void NamePoolThreads(boost::asio::thread_pool& pool, int n, std::string_view prefix) {
  // Shared: the last tasks may still leave arrive_and_wait after wait()
  // returned here.
  auto all_taken = std::make_shared<std::latch>(n);
  for (int i = 0; i < n; ++i) {
    boost::asio::post(pool, [all_taken, name = std::string(prefix) + "-" + std::to_string(i)] {
      NameThisThread(name);
      all_taken->arrive_and_wait();
    });
  }
  all_taken->wait();
}

}  // namespace kad::adapter
