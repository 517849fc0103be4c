// Data-parallel training over torch.distributed (c10d): one process per rank, each with its own
// LightDL serving its share of the patients (balanced by label), parameters broadcast from rank
// 0, gradients averaged every step. Gloo on CPU; NCCL where LibTorch was built with it and CUDA
// is there. Launched as torchrun launches (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT), or by scripts/ddp_demo.sh:
//
//   torchrun --nproc-per-node 2 --no-python build/examples/ddp_train --slides DIR --steps 200
//   scripts/ddp_demo.sh 2 --slides DIR --steps 200
//
// Its last stdout line is one JSON object: {"rank", "world_size", "steps", "patients" (the
// rank's share: the ids its loader serves), "patients_seen" (those whose patches it trained
// on), "param_checksum" (the final parameters, summed the same way on every rank: equal
// checksums show the ranks stayed in step), "patches_per_s"}.
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "pydmed/data/manifest.hpp"
#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/engine/distributed.hpp"
#include "pydmed/torch/light_dl.hpp"

#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {

struct NetImpl : torch::nn::Module {
  torch::nn::Conv2d c1{torch::nn::Conv2dOptions(3, 16, 3).stride(2).padding(1)};
  torch::nn::Conv2d c2{torch::nn::Conv2dOptions(16, 32, 3).stride(2).padding(1)};
  torch::nn::Linear fc{32, 2};
  NetImpl() {
    register_module("c1", c1);
    register_module("c2", c2);
    register_module("fc", fc);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(c1(x));
    x = torch::relu(c2(x));
    return fc(x.mean({2, 3}));
  }
};
TORCH_MODULE(Net);

// A collective that fails (a peer died, the timeout passed) is this rank's end: one line, saying
// what was being done and what c10d reported.
struct LostPeer : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// c10d's errors carry a backtrace: the reason alone, on one line.
std::string one_line(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  const std::string why = c10 ? c10->what_without_backtrace() : e.what();
  return why.substr(0, why.find('\n'));
}

void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    throw LostPeer(what + ": " + one_line(e));
  }
}

// c10d's TCPStore client can wait past its own timeout (a port held by another program that
// accepts and never answers): a watchdog ends the rank with one line when the rendezvous has not
// finished in `timeout`. Disarmed by its destructor.
class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds timeout, std::string what) {
    thread_ = std::thread([this, timeout, what = std::move(what)] {
      std::unique_lock<std::mutex> g(mu_);
      if (!cv_.wait_for(g, timeout, [this] { return done_; })) {
        std::cerr << what << std::endl;
        std::_Exit(1);
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> g(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Parameters and gradients travel as one flat tensor per collective.
torch::Tensor flat(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> views;
  for (const auto& t : ts) views.push_back(t.reshape({-1}));
  return torch::cat(views);
}
void unflatten(const torch::Tensor& f, std::vector<torch::Tensor>& ts) {
  std::int64_t at = 0;
  for (auto& t : ts) {
    t.copy_(f.slice(0, at, at + t.numel()).view_as(t));
    at += t.numel();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pydmed_torch: data-parallel training over torch.distributed"};
  const std::string default_slides = "sample_slides";
  std::string slides;
  int steps = 100, batch = 32, collectors = 2;
  std::uint64_t seed = 0;
  double mpp = 0, timeout_s = 60;
  app.add_option("--slides", slides,
                 "a manifest (.csv) or a folder with manifest.csv (default: sample_slides, made if missing)");
  app.add_option("--steps", steps, "training steps (the same on every rank)")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "the model's initialisation and the loaders' random streams");
  app.add_option("--batch", batch, "patches per step on each rank")->check(CLI::PositiveNumber);
  app.add_option("--collectors", collectors, "patients loaded at once on each rank")->check(CLI::PositiveNumber);
  app.add_option("--mpp", mpp, "patches at this many microns per pixel (0: level 0)")->check(CLI::NonNegativeNumber);
  app.add_option("--timeout", timeout_s, "seconds a rank waits for its peers before it gives up")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  int rank = 0;
  try {
    const pydmed::DistributedEnv env = pydmed::DistributedEnv::from_env();
    rank = env.rank;
    const auto timeout = std::chrono::milliseconds(std::int64_t(timeout_s * 1000));

    // The rendezvous: rank 0 serves the store; everyone meets there, within --timeout.
    const std::string addr = env.master_addr.empty() ? "127.0.0.1" : env.master_addr;
    std::optional<Watchdog> rendezvous(std::in_place, timeout + std::chrono::seconds(5),
                                       "ddp_train: rank " + std::to_string(env.rank) + ": no job at " + addr + ":" +
                                           std::to_string(env.master_port ? env.master_port : 29500) + " within " +
                                           std::to_string(int(timeout_s)) +
                                           " s (the other ranks did not join, or another program holds MASTER_PORT)");
    c10d::TCPStoreOptions so;
    so.port = std::uint16_t(env.master_port ? env.master_port : 29500);
    so.isServer = env.rank == 0;
    so.numWorkers = env.world_size;
    so.waitWorkers = true;
    so.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(addr, so);

    const bool cuda = torch::cuda::is_available();
    c10::intrusive_ptr<c10d::ProcessGroup> pg;
#ifdef USE_C10D_NCCL
    if (cuda) {
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, o);
    }
#endif
    if (!pg) {
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      // Which interface this rank talks on: GLOO_SOCKET_IFNAME as in PyTorch, loopback for a
      // job on this machine alone, else this host's own name's address.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      const bool local = env.master_addr.empty() || env.master_addr == "127.0.0.1" || env.master_addr == "localhost" ||
                         env.world_size == 1;
      o->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                           : local           ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                             : c10d::ProcessGroupGloo::createDefaultDevice());
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, o);
    }
    const torch::Device device =
        pg->getBackendName() == "nccl" ? torch::Device(torch::kCUDA, env.local_rank) : torch::Device(torch::kCPU);

    // Slides: sample slides are made (by rank 0, the others wait for its word) only in the
    // default folder; a --slides that is not there is a mistake, not a request for samples.
    const bool sample = slides.empty();
    if (sample) slides = default_slides;
    const std::string manifest = std::filesystem::is_directory(slides) ? slides + "/manifest.csv" : slides;
    if (!sample && !std::filesystem::exists(manifest)) throw std::runtime_error(manifest + ": no such file");
    if (env.rank == 0 && sample && !std::filesystem::exists(manifest)) {
      std::cout << "rank 0: making sample slides in " << slides << " ..." << std::endl;
      pydmed::make_sample_dataset(slides, 8, 4096, 0);
    }
    if (env.rank == 0) store->set("slides_ready", {1});
    store->wait({"slides_ready"});
    const pydmed::Dataset ds = pydmed::read_manifest(manifest);
    // What every rank must agree on: the same steps (a rank with fewer would leave the others
    // waiting in an all-reduce), and the same patients, resolution and seed (or the shares
    // overlap). Rank 0's are the job's; a rank given others says which, at once.
    const nlohmann::json job = {{"--steps", steps},
                                {"--batch", batch},
                                {"--seed", seed},
                                {"--mpp", mpp},
                                {"--slides (its patients)",
                                 std::to_string(std::hash<std::string>()(ds.records_by_id().dump() + ds.str_dsname))}};
    if (env.rank == 0) {
      const std::string v = job.dump();
      store->set("job", std::vector<std::uint8_t>(v.begin(), v.end()));
      store->set("job_ready", {1});
    }
    store->wait({"job_ready"});
    const std::vector<std::uint8_t> bytes = store->get("job");
    const nlohmann::json rank0 = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
    rendezvous.reset();
    for (const auto& [flag, value] : job.items()) {
      if (rank0.value(flag, nlohmann::json()) != value) {
        throw std::runtime_error(flag + " differs from rank 0's (" + rank0.value(flag, nlohmann::json()).dump() +
                                 " there, " + value.dump() + " here): give every rank the same");
      }
    }

    torch::manual_seed(seed);
    Net net;
    net->to(device);
    std::vector<torch::Tensor> params = net->parameters();
    {
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> t{flat(params)};
      wait(pg->broadcast(t, c10d::BroadcastOptions{0}), "broadcasting the parameters from rank 0");
      unflatten(t[0], params);
    }
    torch::optim::SGD opt(params, torch::optim::SGDOptions(0.05).momentum(0.9));

    // This rank's loader: its share of the patients, balanced by label (Options rank/world_size).
    auto options = pydmed::Options()
                       .num_bigchunkloaders(collectors)
                       .batch_size(batch)
                       .patch_shape({64, 64, 3})
                       .max_bigchunk_bytes(std::size_t(1024) * 1024 * 3)
                       .interval_resched(0.5)
                       .seed(seed + 1000003 * std::uint64_t(env.rank))
                       .rank(env.rank)
                       .world_size(env.world_size);
    pydmed::LightDL dl(
        ds, pydmed::random_bigchunk_loader(pydmed::RandomBigChunkOptions().width(1024).height(1024).mpp(mpp)),
        pydmed::random_smallchunk_collector(pydmed::RandomSmallChunkOptions().max_per_bigchunk(200)), options,
        pydmed::TorchOptions().label("class").device(device).collate(
            pydmed::default_collate(pydmed::CollateOptions().to_float(true))));

    std::set<std::int64_t> seen;
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t patches = 0;
    for (int step = 1; step <= steps; ++step) {
      pydmed::Batch b = dl.get_batch(std::size_t(batch));
      if (b.size() == 0) throw std::runtime_error("the loader ended before step " + std::to_string(step));
      for (const auto& r : b.records) seen.insert(r.patient);
      patches += b.size();
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(net->forward(b.data), b.labels.remainder(2));
      loss.backward();
      std::vector<torch::Tensor> grads;
      for (auto& p : params) grads.push_back(p.grad());
      std::vector<torch::Tensor> g{flat(grads)};
      // Gloo has no AVG: the sum, divided here.
      wait(pg->allreduce(g, c10d::AllreduceOptions{c10d::ReduceOp::SUM}),
           "averaging the gradients of step " + std::to_string(step));
      g[0].div_(double(env.world_size));
      unflatten(g[0], grads);
      opt.step();
      if (step % 10 == 0 || step == steps) {
        std::cerr << "rank " << env.rank << ": step " << step << "/" << steps << " loss " << loss.item<double>()
                  << std::endl;
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Every rank has finished its steps before any leaves (a peer still reducing would see it go).
    wait(pg->barrier(), "waiting for the other ranks to finish");
    dl.stop();

    double checksum = 0;
    {
      torch::NoGradGuard no_grad;
      const torch::Tensor all = flat(params).to(torch::kCPU, torch::kDouble);
      // Weighted by position, so parameters swapped between places would show.
      checksum = (all * torch::arange(1, all.numel() + 1, torch::kDouble)).sum().item<double>();
    }
    std::vector<std::int64_t> share;
    for (const pydmed::Patient& p : dl.core().dataset().list_patients) share.push_back(p.int_uniqueid);
    std::sort(share.begin(), share.end());
    nlohmann::json out = {{"rank", env.rank},
                          {"world_size", env.world_size},
                          {"steps", steps},
                          {"patients", share},
                          {"patients_seen", std::vector<std::int64_t>(seen.begin(), seen.end())},
                          {"param_checksum", checksum},
                          {"patches_per_s", double(patches) / s},
                          {"backend", pg->getBackendName()}};
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const LostPeer& e) {
    std::cerr << "ddp_train: rank " << rank << ": lost the other ranks while " << e.what() << std::endl;
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "ddp_train: rank " << rank << ": " << one_line(e) << std::endl;
    return 1;
  }
}
