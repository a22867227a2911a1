#include "image/layer_batch.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <system_error>
#include <thread>

#include "base/fd.h"
#include "image/fsutil.h"
#include "image/rootfs.h"
#include "image/unpack.h"

namespace gantry::image {

namespace {

struct Job {
    size_t index = 0;  // into the caller's layers, for the error order
    const Descriptor* layer = nullptr;
    Digest diff_id;
    std::string dst;  // layers/sha256/<hex>
    std::string tmp;  // staging directory; the tree is tmp + "/fs"
    std::optional<Error> error;
};

// Unpacks one layer into a fresh staging directory under the store's tmp/.
Status unpack_job(const Store& store, Job& job) {
    job.tmp = GANTRY_TRY(make_temp_dir(store.root() + "/tmp", "layer-"));
    std::string fs = job.tmp + "/fs";
    if (::mkdir(fs.c_str(), 0755) != 0) {
        return fail(Error::sys("mkdir '{}'", fs));
    }
    auto blob = GANTRY_TRY(store.open_blob(job.layer->digest));
    auto dir = GANTRY_TRY(Fd::open(fs, O_RDONLY | O_DIRECTORY));
    UnpackOptions opts;
    opts.whiteouts = WhiteoutMode::kOverlay;
    opts.same_owner = ::geteuid() == 0;
    opts.expect_diff_id = job.diff_id;
    opts.start_writeback = true;  // the barrier in ensure_layers() follows
    GANTRY_TRY_CTX(unpack_layer(blob.get(), dir.get(), opts), "unpack layer {}",
                   job.layer->digest.str());
    return ok();
}

// Runs the jobs on `parallel` threads (the caller's included), each taking the next one.
void run_jobs(const Store& store, std::vector<Job>& jobs, unsigned parallel) {
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
            if (auto st = unpack_job(store, jobs[i]); !st) {
                jobs[i].error = std::move(st.error());
            }
        }
    };
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < std::min<size_t>(parallel, jobs.size()); ++t) {
        try {
            threads.emplace_back(work);
        } catch (const std::system_error&) {
            break;  // fewer threads; the caller's thread still does every job left
        }
    }
    work();
    for (auto& t : threads) {
        t.join();
    }
}

}  // namespace

Result<std::vector<std::string>> ensure_layers(const Store& store,
                                               const std::vector<Descriptor>& layers,
                                               const std::vector<Digest>& diff_ids,
                                               const LayerBatchOptions& opts) {
    if (layers.size() != diff_ids.size()) {
        return fail(Error::msg("{} layers but {} diff_ids in the image config", layers.size(),
                               diff_ids.size()));
    }
    // 1. What is missing, each diff_id once.
    std::vector<std::string> dirs;
    std::vector<Job> jobs;
    for (size_t i = 0; i < layers.size(); ++i) {
        dirs.push_back(layer_dir(store.root(), diff_ids[i]));
        bool queued = std::any_of(jobs.begin(), jobs.end(),
                                  [&](const Job& j) { return j.dst == dirs.back(); });
        if (!queued && ::access(dirs.back().c_str(), F_OK) != 0) {
            jobs.push_back(
                {.index = i, .layer = &layers[i], .diff_id = diff_ids[i], .dst = dirs.back()});
        }
    }
    if (jobs.empty()) {
        return dirs;
    }
    // 2. Unpack, biggest blob first so the longest job does not start last.
    std::stable_sort(jobs.begin(), jobs.end(),
                     [](const Job& a, const Job& b) { return a.layer->size > b.layer->size; });
    unsigned parallel = opts.parallel != 0 ? opts.parallel
                                           : std::clamp(std::thread::hardware_concurrency(), 2u,
                                                        LayerBatchOptions::kMaxParallel);
    run_jobs(store, jobs, parallel);
    auto cleanup = [&] {
        for (const auto& j : jobs) {
            if (!j.tmp.empty()) {
                (void)remove_tree(j.tmp);
            }
        }
    };
    const Job* failed = nullptr;
    for (const auto& j : jobs) {
        if (j.error && (failed == nullptr || j.index < failed->index)) {
            failed = &j;
        }
    }
    if (failed != nullptr) {
        auto err = *failed->error;
        cleanup();
        return fail(std::move(err));
    }
    // 3. One durability barrier for every staged tree (they share the store's filesystem):
    //    syncfs writes back all their data and inodes and flushes the disk cache once. A
    //    crash before it returns leaves only staging directories, which GC removes.
    auto tmpdir = Fd::open(store.root() + "/tmp", O_RDONLY | O_DIRECTORY);
    if (!tmpdir || ::syncfs(tmpdir->get()) != 0) {
        auto err = !tmpdir ? std::move(tmpdir.error())
                           : Error::sys("syncfs '{}/tmp' (making the unpacked layers durable)",
                                        store.root());
        cleanup();
        return fail(std::move(err));
    }
    // 4. Publish each by rename, made durable by one fsync of the parent. Losing a race to
    //    another unpack of the same layer is fine.
    for (const auto& j : jobs) {
        std::string fs = j.tmp + "/fs";
        if (::rename(fs.c_str(), j.dst.c_str()) != 0 && errno != EEXIST && errno != ENOTEMPTY) {
            auto err = Error::sys("rename '{}' to '{}'", fs, j.dst);
            cleanup();
            return fail(std::move(err));
        }
    }
    cleanup();
    GANTRY_TRY(fsync_dir(store.root() + "/layers/sha256"));
    return dirs;
}

}  // namespace gantry::image
