#include "embed_ranks.hpp"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "pydmed/error.hpp"
#include "pydmed/extensions/feature_index.hpp"
#include "pydmed/run_lock.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/torch/slide_claims.hpp"

namespace fs = std::filesystem;

namespace pydmed::cli {

namespace {

// The job's store: MASTER_ADDR and MASTER_PORT, torchrun's defaults where unset.
std::string host(const DistributedEnv& env) { return env.master_addr.empty() ? "127.0.0.1" : env.master_addr; }
std::uint16_t port(const DistributedEnv& env) { return std::uint16_t(env.master_port ? env.master_port : 29500); }
std::string where(const DistributedEnv& env) { return host(env) + ":" + std::to_string(port(env)); }

c10::intrusive_ptr<c10d::TCPStore> connect(const RankJob& job, bool serve) {
  c10d::TCPStoreOptions o;
  o.port = port(job.env);
  o.isServer = serve;
  o.numWorkers = job.env.world_size;
  o.waitWorkers = true;  // every rank counts itself in (a client that does not, the server waits for)
  o.timeout = std::chrono::milliseconds(std::int64_t(job.timeout_s * 1000));
  return c10::make_intrusive<c10d::TCPStore>(host(job.env), o);
}

// A store's or a model's message on one line (c10's carry a backtrace after it).
std::string first_line(const std::exception& e) {
  const auto* c = dynamic_cast<const c10::Error*>(&e);
  const std::string what = c ? c->what_without_backtrace() : e.what();
  return what.substr(0, what.find('\n'));
}

// Beats for the slide in hand on a connection of its own, every quarter lease, while the main
// thread embeds; a store that stops answering (rank 0 gone) ends the rank in one line.
class Heartbeat {
 public:
  Heartbeat(const RankJob& job, std::size_t slides, Claim claim)
      : claims_(connect(job, false), slides, ClaimOptions().lease_s(job.lease_s)), claim_(claim) {
    const std::string who = "pydmed: rank " + std::to_string(job.env.rank) + ": the job's store (rank 0 at " +
                            where(job.env) + ") stopped answering: ";
    thread_ = std::thread([this, who, every = job.lease_s / 4] {
      std::unique_lock<std::mutex> g(mu_);
      while (!cv_.wait_for(g, std::chrono::duration<double>(every), [this] { return stop_; })) {
        try {
          claims_.beat(claim_);
        } catch (const std::exception& e) {
          std::cerr << who << first_line(e) << std::endl;
          std::_Exit(1);  // the loader's processes die with this one (PR_SET_PDEATHSIG)
        }
      }
    });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  SlideClaims claims_;
  Claim claim_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

std::string file_of(const RankJob& job, const Patient& p) {
  return (fs::path(job.out) / (FeatureExtractor::slide_name(p.slide_path()) + ".h5")).string();
}

// Rank 0: the slides without a file yet, largest first (the job ends together), by name (each
// node's source lists them by its own paths).
std::vector<std::string> pending(const RankJob& job, const Dataset& ds) {
  std::vector<std::pair<double, std::string>> order;
  for (const Patient& p : ds.list_patients) {
    if (fs::exists(file_of(job, p))) continue;
    double area = 0;
    try {
      const Slide s(p.slide_path());
      area = double(s.levels()[0].width) * double(s.levels()[0].height);
    } catch (const std::exception&) {  // said when its rank embeds it
    }
    order.push_back({-area, FeatureExtractor::slide_name(p.slide_path())});
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> names;
  for (const auto& [area, name] : order) names.push_back(name);
  return names;
}

// Publishes `from` as `to` unless `to` exists (another rank published the slide first): true
// when this rank's file is the one. renameat2's no-replace, else link (fails on an existing name).
bool publish(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno != EINVAL && errno != ENOSYS) throw Error(to + ": cannot publish: " + std::strerror(errno));
  if (::link(from.c_str(), to.c_str()) != 0) {
    if (errno == EEXIST) return false;
    throw Error(to + ": cannot publish: " + std::strerror(errno));
  }
  ::unlink(from.c_str());
  return true;
}


}  // namespace

int run_embed_ranks(const RankJob& job, const Dataset& ds) {
  const DistributedEnv& env = job.env;
  const bool zero = env.rank == 0;
  std::map<std::string, const Patient*> by_name;  // checked on every rank, before it joins
  for (const Patient& p : ds.list_patients)
    if (auto [it, fresh] = by_name.emplace(FeatureExtractor::slide_name(p.slide_path()), &p); !fresh)
      throw Error("patients " + std::to_string(it->second->int_uniqueid) + " and " + std::to_string(p.int_uniqueid) +
                  " both have a slide named " + it->first + ": their feature files would be the same");
  std::optional<RunLock> lock;  // the job's: rank 0 holds the output folder
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    store = connect(job, zero);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + ": no job at " + where(env) + " within " +
                std::to_string(int(job.timeout_s)) + " s (--timeout): " + first_line(e));
  }
  int status = 0;
  nlohmann::json wrote = nlohmann::json::array();
  std::int64_t windows = 0;
  try {
    if (zero) {
      lock.emplace(RunLock::folder(job.out));
      fs::remove_all(fs::path(job.out) / ".ranks");  // claim folders of an earlier, stopped job
      const std::string list = nlohmann::json(pending(job, ds)).dump();
      store->set("pydmed/pending", std::vector<std::uint8_t>(list.begin(), list.end()));
    }
    // Rank 0 opens every slide's header to order them: as long as that takes (its loss ends the wait).
    store->wait({"pydmed/pending"}, std::chrono::hours(24 * 7));
    const std::vector<std::uint8_t> raw = store->get("pydmed/pending");
    const auto names = nlohmann::json::parse(raw.begin(), raw.end()).get<std::vector<std::string>>();
    SlideClaims claims(store, names.size(), ClaimOptions().lease_s(job.lease_s));
    while (const auto claim = claims.next()) {
      const std::string& name = names[claim->slide];
      const fs::path dir = fs::path(job.out) / ".ranks" / (name + ".claim" + std::to_string(claim->number));
      std::vector<EmbeddedSlide> done;
      std::string failed;
      {
        const Heartbeat beating(job, names.size(), *claim);
        try {  // a slide that fails is said and set aside; the job goes on
          const auto it = by_name.find(name);
          if (it == by_name.end()) throw Error("not in this rank's source");
          fs::create_directories(dir);
          done = job.embed(Dataset(ds.str_dsname, {*it->second}), dir.string());
          if (done.size() != 1) failed = "not embedded (the error above)";
        } catch (const std::exception& e) {
          failed = first_line(e);
        }
      }
      if (job.interrupted()) break;  // the slide is left to the next run
      claims.beat(*claim);
      if (claims.still_holds(*claim) && !claims.is_done(claim->slide)) {  // the fence
        if (!failed.empty()) {
          std::cerr << "error: slide " << name << ": " << failed << '\n';
          status = 1;  // set aside: not tried again, and no index.tsv
        } else if (publish(done[0].file, (fs::path(job.out) / (name + ".h5")).string())) {
          wrote.push_back(name), windows += done[0].windows;
        }
        claims.done(*claim);
      }  // else another rank holds it now, or published it: this rank's copy is dropped
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
    if (zero && !job.interrupted()) {
      std::vector<FeatureIndexRow> rows;
      bool complete = !job.skipped_any;
      for (const Patient& p : ds.list_patients) {
        complete = complete && fs::exists(file_of(job, p));
        if (complete) rows.push_back(feature_index_row(file_of(job, p)));
      }
      if (complete) write_feature_index(job.out, rows);
      std::error_code ec;
      fs::remove_all(fs::path(job.out) / ".ranks", ec);  // a dead rank's claim folders too
      status = complete ? status : 1;
    }
    store->add("pydmed/left", 1);
    if (zero) {  // the store lives until every rank has left it (a dead one, for --timeout)
      const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(job.timeout_s);
      while (store->add("pydmed/left", 0) < env.world_size && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const Error&) {
    throw;  // a file of the job's: says which
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + ": the job's store (rank 0 at " + where(env) +
                ") stopped answering: " + first_line(e));
  }
  std::cout << nlohmann::json{{"rank", env.rank}, {"world_size", env.world_size}, {"slides", wrote}, {"windows", windows}}
                   .dump()
            << std::endl;
  return job.interrupted() ? job.interrupt_status() : status;
}

}  // namespace pydmed::cli
