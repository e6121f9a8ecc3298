// skeleton.h — Skeleton<T>: RAII over a bpftool skeleton (T = <name>_bpf from "<name>.skel.h").
//
//   open()   the embedded object is parsed; maps and programs exist only in memory. Set rodata
//            (get()->rodata->x), map sizes and autoload here.
//   load()   maps are created and programs verified; their kernel ids are registered with the
//            Runtime under the module's name (the `ebpf` module's "Module" field).
//   attach() every loaded program marked autoattach is attached; an error names the hook
//            ("attach tp_btf/mark_victim: Operation not permitted") and undoes the others.
//   destroy() (and the destructor) detaches, unregisters the ids and closes every fd.
//
// bpftool (>= 7.0) gives each skeleton struct static open/load/destroy members in C++; that is all
// this template needs from T.
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "bpf/runtime/runtime.h"

namespace rp::bpf {

struct SkeletonTimings {
    double open_ms = 0;
    double load_ms = 0;  // map creation + verification (+ libbpf's parse of the kernel BTF)
    double attach_ms = 0;
};

// The part of Skeleton<T> that does not depend on T.
class SkeletonCore {
  public:
    SkeletonCore() = default;
    SkeletonCore(Runtime* rt, std::string_view module, std::string_view object)
        : rt_(rt), module_(module), object_(object) {}
    SkeletonCore(SkeletonCore&& o) noexcept { *this = std::move(o); }
    SkeletonCore& operator=(SkeletonCore&& o) noexcept;
    ~SkeletonCore() { release(); }

    // After a successful load: records the ids of every map and loaded program.
    void register_ids(bpf_object* obj);
    // Attaches every loaded autoattach program of obj.
    std::expected<void, std::string> attach(bpf_object* obj);
    // Destroys the links and unregisters the ids.
    void release();

    const std::string& module() const { return module_; }
    const std::string& object_name() const { return object_; }
    const std::vector<std::string>& attached() const { return hooks_; }
    const std::vector<uint32_t>& program_ids() const { return prog_ids_; }
    const std::vector<uint32_t>& map_ids() const { return map_ids_; }
    // Memory of the loaded maps, the kernel's own figure (fdinfo "memlock", read now: hash maps
    // without preallocation and socket/task storage grow and shrink).
    uint64_t map_bytes() const;
    // Run time and run count of the loaded programs (zero unless kernel.bpf_stats_enabled).
    struct ProgramRuns {
        uint64_t run_time_ns = 0;
        uint64_t run_count = 0;
    };
    ProgramRuns program_runs() const;
    SkeletonTimings timings;

  private:
    Runtime* rt_ = nullptr;
    std::string module_;
    std::string object_;
    std::vector<bpf_link*> links_;
    std::vector<std::string> hooks_;
    std::vector<uint32_t> prog_ids_;
    std::vector<uint32_t> map_ids_;
    std::vector<int> prog_fds_;  // owned by the bpf_object, valid until release()
    std::vector<int> map_fds_;
};

template <typename T>
class Skeleton {
  public:
    Skeleton() = default;
    Skeleton(Skeleton&& o) noexcept
        : core_(std::move(o.core_)), skel_(std::exchange(o.skel_, nullptr)) {}
    Skeleton& operator=(Skeleton&& o) noexcept {
        if (this != &o) {
            destroy();
            core_ = std::move(o.core_);
            skel_ = std::exchange(o.skel_, nullptr);
        }
        return *this;
    }
    ~Skeleton() { destroy(); }

    // `object` names the object in errors ("oom_kill"); `module` owns its ids.
    static std::expected<Skeleton, std::string> open(Runtime& rt, std::string_view module,
                                                     std::string_view object) {
        auto t0 = std::chrono::steady_clock::now();
        Skeleton s;
        s.core_ = SkeletonCore(&rt, module, object);
        errno = 0;
        s.skel_ = T::open(nullptr);
        if (s.skel_ == nullptr)
            return std::unexpected(
                errno_message("open " + std::string(object), errno ? errno : EINVAL));
        s.core_.timings.open_ms = since_ms(t0);
        return s;
    }

    std::expected<void, std::string> load() {
        auto t0 = std::chrono::steady_clock::now();
        int err = T::load(skel_);
        if (err != 0) {
            return std::unexpected(errno_message("load " + core_.object_name(), -err) +
                                   " (libbpf's log above has the details)");
        }
        core_.timings.load_ms = since_ms(t0);
        core_.register_ids(skel_->obj);
        return {};
    }

    std::expected<void, std::string> attach() {
        auto t0 = std::chrono::steady_clock::now();
        auto r = core_.attach(skel_->obj);
        core_.timings.attach_ms = since_ms(t0);
        return r;
    }

    // open → configure(T*) → load → attach. `configure` returns void or expected<void, string>.
    template <typename F>
    static std::expected<Skeleton, std::string> create(Runtime& rt, std::string_view module,
                                                       std::string_view object, F&& configure) {
        auto s = open(rt, module, object);
        if (!s) return s;
        if constexpr (std::is_void_v<std::invoke_result_t<F, T*>>) {
            configure(s->get());
        } else {
            auto c = configure(s->get());
            if (!c) return std::unexpected(c.error());
        }
        if (auto r = s->load(); !r) return std::unexpected(r.error());
        if (auto r = s->attach(); !r) return std::unexpected(r.error());
        return s;
    }

    void destroy() {
        core_.release();
        if (skel_ != nullptr) {
            T::destroy(skel_);
            skel_ = nullptr;
        }
    }

    T* get() const { return skel_; }
    T* operator->() const { return skel_; }
    explicit operator bool() const { return skel_ != nullptr; }
    bpf_object* object() const { return skel_ ? skel_->obj : nullptr; }
    // Hooks attached, as section names ("tp_btf/mark_victim").
    const std::vector<std::string>& attached() const { return core_.attached(); }
    const SkeletonCore& core() const { return core_; }
    const SkeletonTimings& timings() const { return core_.timings; }

  private:
    static double since_ms(std::chrono::steady_clock::time_point t0) {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
            .count();
    }
    SkeletonCore core_;
    T* skel_ = nullptr;
};

}  // namespace rp::bpf
