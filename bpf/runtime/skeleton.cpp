// skeleton.cpp — the non-template part of Skeleton<T> (see skeleton.h).
#include "bpf/runtime/skeleton.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "loop/log.h"

namespace rp::bpf {

SkeletonCore& SkeletonCore::operator=(SkeletonCore&& o) noexcept {
    if (this != &o) {
        release();
        rt_ = std::exchange(o.rt_, nullptr);
        module_ = std::move(o.module_);
        object_ = std::move(o.object_);
        links_ = std::move(o.links_);
        hooks_ = std::move(o.hooks_);
        prog_ids_ = std::move(o.prog_ids_);
        map_ids_ = std::move(o.map_ids_);
        prog_fds_ = std::move(o.prog_fds_);
        map_fds_ = std::move(o.map_fds_);
        timings = o.timings;
        o.links_.clear();
        o.hooks_.clear();
        o.prog_ids_.clear();
        o.map_ids_.clear();
        o.prog_fds_.clear();
        o.map_fds_.clear();
    }
    return *this;
}

void SkeletonCore::register_ids(bpf_object* obj) {
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, obj) {
        int fd = bpf_map__fd(map);
        if (fd < 0) continue;
        bpf_map_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
        map_ids_.push_back(info.id);
        map_fds_.push_back(fd);
        if (rt_ != nullptr) rt_->add_owner(ObjectKind::map, info.id, module_, bpf_map__name(map));
    }
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj) {
        int fd = bpf_program__fd(prog);
        if (fd < 0) continue;  // not loaded (autoload off)
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
        prog_ids_.push_back(info.id);
        prog_fds_.push_back(fd);
        if (rt_ != nullptr)
            rt_->add_owner(ObjectKind::program, info.id, module_, bpf_program__name(prog));
    }
}

std::expected<void, std::string> SkeletonCore::attach(bpf_object* obj) {
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj) {
        if (!bpf_program__autoload(prog) || !bpf_program__autoattach(prog)) continue;
        if (bpf_program__fd(prog) < 0) continue;
        errno = 0;
        bpf_link* link = bpf_program__attach(prog);
        if (link == nullptr) {
            int err = errno != 0 ? errno : EINVAL;
            std::string what = std::string("attach ") + bpf_program__section_name(prog);
            for (bpf_link* l : links_) bpf_link__destroy(l);
            links_.clear();
            hooks_.clear();
            return std::unexpected(errno_message(what, err));
        }
        links_.push_back(link);
        hooks_.emplace_back(bpf_program__section_name(prog));
    }
    return {};
}

void SkeletonCore::release() {
    for (bpf_link* l : links_) bpf_link__destroy(l);
    links_.clear();
    hooks_.clear();
    if (rt_ != nullptr) {
        for (uint32_t id : prog_ids_) rt_->remove_owner(ObjectKind::program, id);
        for (uint32_t id : map_ids_) rt_->remove_owner(ObjectKind::map, id);
    }
    prog_ids_.clear();
    map_ids_.clear();
    prog_fds_.clear();
    map_fds_.clear();
}

uint64_t SkeletonCore::map_bytes() const {
    uint64_t total = 0;
    for (int fd : map_fds_) total += fdinfo_memlock(fd);
    return total;
}

SkeletonCore::ProgramRuns SkeletonCore::program_runs() const {
    ProgramRuns r;
    for (int fd : prog_fds_) {
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
        r.run_time_ns += info.run_time_ns;
        r.run_count += info.run_cnt;
    }
    return r;
}

}  // namespace rp::bpf
