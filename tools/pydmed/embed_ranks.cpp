#include "embed_ranks.hpp"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
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

std::string where(const DistributedEnv& env) {
  return (env.master_addr.empty() ? "127.0.0.1" : env.master_addr) + ":" +
         std::to_string(env.master_port ? env.master_port : 29500);
}

c10::intrusive_ptr<c10d::TCPStore> connect(const RankJob& job, bool serve) {
  c10d::TCPStoreOptions o;
  o.port = std::uint16_t(job.env.master_port ? job.env.master_port : 29500);
  o.isServer = serve;
  o.numWorkers = job.env.world_size;
  o.waitWorkers = true;  // every rank counts itself in (a client that does not, the server waits for)
  o.timeout = std::chrono::milliseconds(std::int64_t(job.timeout_s * 1000));
  return c10::make_intrusive<c10d::TCPStore>(job.env.master_addr.empty() ? "127.0.0.1" : job.env.master_addr, o);
}

// Beats for the slide in hand on a connection of its own, every quarter lease, while the main
// thread embeds; a store that stops answering (rank 0 gone) ends the rank in one line.
class Heartbeat {
 public:
  Heartbeat(const RankJob& job, std::size_t slides, Claim claim)
      : claims_(connect(job, false), slides, ClaimOptions().lease_s(job.lease_s)), claim_(claim) {
    thread_ = std::thread([this, job] {
      std::unique_lock<std::mutex> g(mu_);
      while (!cv_.wait_for(g, std::chrono::duration<double>(job.lease_s / 4), [this] { return stop_; })) {
        try {
          claims_.beat(claim_);
        } catch (const std::exception& e) {
          std::cerr << "pydmed embed: rank " << job.env.rank << ": the job's store (rank 0 at " << where(job.env)
                    << ") stopped answering: " << e.what() << std::endl;
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

// Rank 0: the slides without a file yet, largest first (the job ends together), as patient ids.
std::vector<std::int64_t> pending(const RankJob& job, const Dataset& ds) {
  std::vector<std::pair<double, std::int64_t>> order;
  for (const Patient& p : ds.list_patients) {
    if (fs::exists(file_of(job, p))) continue;
    double area = 0;
    try {
      const Slide s(p.slide_path());
      area = double(s.levels()[0].width) * double(s.levels()[0].height);
    } catch (const std::exception&) {  // said when its rank embeds it
    }
    order.push_back({-area, p.int_uniqueid});
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::int64_t> ids;
  for (const auto& [area, id] : order) ids.push_back(id);
  return ids;
}

}  // namespace

int run_embed_ranks(const RankJob& job, const Dataset& ds) {
  const DistributedEnv& env = job.env;
  const bool zero = env.rank == 0;
  std::map<std::string, std::int64_t> names;  // checked on every rank, before it joins
  for (const Patient& p : ds.list_patients)
    if (auto [it, fresh] = names.emplace(FeatureExtractor::slide_name(p.slide_path()), p.int_uniqueid); !fresh)
      throw Error("patients " + std::to_string(it->second) + " and " + std::to_string(p.int_uniqueid) +
                  " both have a slide named " + it->first + ": their feature files would be the same");
  std::optional<RunLock> lock;  // the job's: rank 0 holds the output folder
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    store = connect(job, zero);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + ": no job at " + where(env) + " within " +
                std::to_string(int(job.timeout_s)) + " s (--timeout): " + std::string(e.what()).substr(0, 200));
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
    store->wait({"pydmed/pending"});
    const std::vector<std::uint8_t> raw = store->get("pydmed/pending");
    const std::vector<std::int64_t> ids = nlohmann::json::parse(raw.begin(), raw.end()).get<std::vector<std::int64_t>>();
    SlideClaims claims(store, ids.size(), ClaimOptions().lease_s(job.lease_s));
    while (const auto claim = claims.next()) {
      const Patient& p = ds.patient(ids[claim->slide]);
      const std::string name = FeatureExtractor::slide_name(p.slide_path());
      const fs::path dir = fs::path(job.out) / ".ranks" / (name + ".claim" + std::to_string(claim->number));
      fs::create_directories(dir);
      std::vector<EmbeddedSlide> done;
      {
        const Heartbeat beating(job, ids.size(), *claim);
        done = job.embed(Dataset(ds.str_dsname, {p}), dir.string());
      }
      claims.beat(*claim);
      if (done.size() == 1 && claims.still_holds(*claim)) {  // the fence: only the slide's claim publishes
        fs::rename(done[0].file, file_of(job, p));
        wrote.push_back(name), windows += done[0].windows;
      } else if (done.size() != 1) {
        status = 1;  // its error was said
      }
      claims.done(*claim);
      fs::remove_all(dir);
    }
    if (zero) {
      std::vector<FeatureIndexRow> rows;
      bool complete = true;
      for (const Patient& p : ds.list_patients) {
        complete = complete && fs::exists(file_of(job, p));
        if (complete) rows.push_back(feature_index_row(file_of(job, p)));
      }
      if (complete) write_feature_index(job.out, rows);
      std::error_code ec;
      fs::remove(fs::path(job.out) / ".ranks", ec);  // empty now
      status = complete ? status : 1;
    }
    store->add("pydmed/left", 1);
    if (zero) {  // the store lives until every rank has left it
      const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(job.timeout_s);
      while (store->add("pydmed/left", 0) < env.world_size && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const c10::Error& e) {
    throw Error("rank " + std::to_string(env.rank) + ": the job's store (rank 0 at " + where(env) +
                ") stopped answering: " + e.what_without_backtrace());
  }
  std::cout << nlohmann::json{{"rank", env.rank}, {"world_size", env.world_size}, {"slides", wrote}, {"windows", windows}}
                   .dump()
            << std::endl;
  return status;
}

}  // namespace pydmed::cli
