// cli/job_log.cpp
#include "job_log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <vector>

#include "options.hpp"

namespace parmill::cli {
namespace {

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("cannot write the job log: ") + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

constexpr const char* header = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

} // namespace

std::set<std::size_t> jobs_done(const std::string& path, bool failed_too) {
  std::set<std::size_t> done;
  std::ifstream in(path);
  if (!in) {
    if (::access(path.c_str(), F_OK) != 0) return done; // no log yet: nothing done
    throw usage_error("cannot read the job log '" + path + "': " + std::strerror(errno));
  }
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream split(line);
    std::string field;
    while (fields.size() < 8 && std::getline(split, field, '\t'))
      fields.push_back(field);
    if (fields.size() < 8 || fields[0] == "Seq") continue;
    try {
      const std::size_t seq = std::stoull(fields[0]);
      const bool succeeded = std::stol(fields[6]) == 0 && std::stol(fields[7]) == 0;
      if (failed_too || succeeded) done.insert(seq);
    } catch (const std::exception&) {
      continue; // a torn last line from a killed run: that job runs again
    }
  }
  return done;
}

job_log::job_log(const std::string& path, bool append) {
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd_ < 0) throw usage_error("cannot write the job log '" + path + "': " + std::strerror(errno));
  if (!append || !existed || ::lseek(fd_, 0, SEEK_END) == 0) write_all(fd_, header);
}

job_log::~job_log() {
  if (fd_ >= 0) ::close(fd_);
}

void job_log::record(std::size_t seq, const std::string& host, const process_result& r,
                     const std::string& command) {
  const double start = std::chrono::duration<double>(r.started.time_since_epoch()).count();
  char numbers[160];
  std::snprintf(numbers, sizeof numbers, "%zu\t%s\t%.3f\t%10.3f\t%zu\t%zu\t%d\t%d\t", seq, host.c_str(),
                start, r.runtime.count(), r.sent, r.received, r.exit_value, r.signal);
  std::string line(numbers);
  line.append(command).push_back('\n');
  write_all(fd_, line);
}

} // namespace parmill::cli
