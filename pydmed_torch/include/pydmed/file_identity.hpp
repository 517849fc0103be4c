#pragma once
// What makes two paths one file, and what tells that a file's content changed. Paths are
// compared by identity, never as strings: "./o.tsv", "o.tsv" and a symbolic link to it are one
// file, and an output that is one of the run's inputs (or its own state) must be refused.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pydmed {

// `path` absolute, with "." and ".." and every symbolic link resolved as far as the path
// exists, a dangling link included (its target is where a write would go).
std::string resolved_path(const std::string& path);

// True when `a` and `b` name one file: the same device and inode where both exist, else the
// same resolved_path.
bool same_file(const std::string& a, const std::string& b);

// The first of `inputs` that is the same file as `output`, or "" when none is.
std::string input_named_by(const std::string& output, const std::vector<std::string>& inputs);

// What identifies a slide file's content without reading it: size and modification time (ns),
// as "SIZE bytes, modified SECONDS.NANOS". A MIRAX slide (.mrxs) also counts the files of its
// folder (the same name without the extension). "missing" when the file is not there.
std::string content_stamp(const std::string& path);

}  // namespace pydmed
