#include "bench/nab/nab_corpus.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace kad::nab {
namespace {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path.string()));
  return text.str();
}

// The fields of a comma-separated file without quoting, by column.
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> columns;

  // The column named `name`, or nullptr.
  std::vector<std::string>* Column(std::string_view name) {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? nullptr : &columns[it - header.begin()];
  }
};

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  for (size_t start = 0;;) {
    const size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma - start));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

absl::StatusOr<CsvTable> ReadCsv(const std::filesystem::path& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  CsvTable table;
  std::string_view rest = *text;
  for (int64_t line_number = 1; !rest.empty(); ++line_number) {
    const size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::vector<std::string_view> fields = SplitFields(line);
    if (line_number == 1) {
      table.header.assign(fields.begin(), fields.end());
      table.columns.resize(fields.size());
      continue;
    }
    if (fields.size() != table.header.size()) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ":", line_number, ": ",
                                                     fields.size(), " fields, the header has ",
                                                     table.header.size()));
    }
    for (size_t c = 0; c < fields.size(); ++c) table.columns[c].emplace_back(fields[c]);
  }
  if (table.header.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": empty file"));
  }
  return table;
}

// The number `text` is, all of it.
bool ParseDouble(std::string_view text, double* out) {
  const char* end = text.data() + text.size();
  const std::from_chars_result r = std::from_chars(text.data(), end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

// The n decimal digits at text[pos], or -1.
int Digits(std::string_view text, size_t pos, size_t n) {
  int value = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// Reads the one shape combined_windows.json has; strings have no escapes.
class WindowsJsonParser {
 public:
  explicit WindowsJsonParser(std::string_view text) : text_(text) {}

  absl::StatusOr<std::map<std::string, std::vector<LabelWindow>>> Parse() {
    std::map<std::string, std::vector<LabelWindow>> files;
    if (!Consume('{')) return Error("'{'");
    bool more = !Consume('}');
    while (more) {
      absl::StatusOr<std::string> key = String();
      if (!key.ok()) return key.status();
      if (!Consume(':')) return Error("':'");
      absl::StatusOr<std::vector<LabelWindow>> windows = Windows();
      if (!windows.ok()) return windows.status();
      if (!files.emplace(*key, *std::move(windows)).second) {
        return absl::InvalidArgumentError(absl::StrCat("windows JSON: \"", *key, "\" twice"));
      }
      more = Consume(',');
      if (!more && !Consume('}')) return Error("',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("the end");
    return files;
  }

 private:
  // [[start, end], ...]
  absl::StatusOr<std::vector<LabelWindow>> Windows() {
    std::vector<LabelWindow> windows;
    if (!Consume('[')) return Error("'['");
    bool more = !Consume(']');
    while (more) {
      if (!Consume('[')) return Error("'['");
      absl::StatusOr<std::string> start = String();
      if (!start.ok()) return start.status();
      if (!Consume(',')) return Error("','");
      absl::StatusOr<std::string> end = String();
      if (!end.ok()) return end.status();
      if (!Consume(']')) return Error("']'");
      windows.emplace_back(*std::move(start), *std::move(end));
      more = Consume(',');
      if (!more && !Consume(']')) return Error("',' or ']'");
    }
    return windows;
  }

  absl::StatusOr<std::string> String() {
    if (!Consume('"')) return Error("a string");
    const size_t close = text_.find_first_of("\"\\", pos_);
    if (close == std::string_view::npos || text_[close] != '"') {
      return Error("a closing '\"' (escapes are not supported)");
    }
    std::string s(text_.substr(pos_, close - pos_));
    pos_ = close + 1;
    return s;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\n')) {
      ++pos_;
    }
  }

  // Skips white space, then `c` if it comes next.
  bool Consume(char c) {
    SkipSpace();
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  absl::Status Error(std::string_view expected) const {
    return absl::InvalidArgumentError(
        absl::StrCat("windows JSON: expected ", std::string(expected), " at offset ", pos_));
  }

  std::string_view text_;
  size_t pos_ = 0;
};

absl::StatusOr<CorpusFile> LoadFile(const std::filesystem::path& path, std::string category,
                                    std::string name, const std::vector<LabelWindow>& windows) {
  absl::StatusOr<CsvTable> table = ReadCsv(path);
  if (!table.ok()) return table.status();
  std::vector<std::string>* timestamps = table->Column("timestamp");
  std::vector<std::string>* values = table->Column("value");
  if (timestamps == nullptr || values == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": no \"timestamp\" or no \"value\" column"));
  }
  CorpusFile file;
  file.labels.key = absl::StrCat(category, "/", name, ".csv");
  file.labels.category = std::move(category);
  file.labels.rows = static_cast<int64_t>(timestamps->size());
  file.name = std::move(name);
  std::vector<int64_t> times_ms;
  for (size_t i = 0; i < timestamps->size(); ++i) {
    absl::StatusOr<int64_t> t = ParseTimestampMs((*timestamps)[i]);
    double value = 0;
    if (!t.ok() || !ParseDouble((*values)[i], &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ": data row ", i, " is not a timestamp and a number"));
    }
    times_ms.push_back(*t);
    file.t_ms.push_back(file.t_ms.empty() ? *t : std::max(*t, file.t_ms.back() + 1));
    file.values.push_back(value);
  }
  absl::StatusOr<std::vector<Window>> rows = MapWindows(times_ms, windows);
  if (!rows.ok())
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", rows.status().message()));
  file.labels.windows = *std::move(rows);
  file.timestamps = std::move(*timestamps);
  file.value_texts = std::move(*values);
  return file;
}

}  // namespace

absl::StatusOr<int64_t> ParseTimestampMs(std::string_view text) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", std::string(text), "\" is not a timestamp YYYY-MM-DD HH:MM:SS[.ffffff]"));
  };
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' || text[10] != ' ' || text[13] != ':' ||
      text[16] != ':') {
    return bad();
  }
  const int year = Digits(text, 0, 4), month = Digits(text, 5, 2), day = Digits(text, 8, 2);
  const int hour = Digits(text, 11, 2), minute = Digits(text, 14, 2), second = Digits(text, 17, 2);
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (year < 0 || !date.ok() || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
      second > 59) {
    return bad();
  }
  int millis = 0;
  if (text.size() > 19) {
    const std::string_view fraction = text.substr(20);
    if (text[19] != '.' || fraction.empty() || Digits(fraction, 0, fraction.size()) < 0) {
      return bad();
    }
    for (size_t i = 0; i < 3; ++i)
      millis = millis * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  }
  const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  return ((days * 24 + hour) * 60 + minute) * 60'000LL + second * 1000LL + millis;
}

absl::StatusOr<std::map<std::string, std::vector<LabelWindow>>> ParseWindowsJson(
    std::string_view json) {
  return WindowsJsonParser(json).Parse();
}

absl::StatusOr<std::vector<Window>> MapWindows(const std::vector<int64_t>& times_ms,
                                               const std::vector<LabelWindow>& windows) {
  std::unordered_map<int64_t, int64_t> first_row;
  for (size_t i = 0; i < times_ms.size(); ++i) {
    first_row.emplace(times_ms[i], static_cast<int64_t>(i));  // keeps the first
  }
  const auto row_of = [&](const std::string& timestamp) -> absl::StatusOr<int64_t> {
    absl::StatusOr<int64_t> t = ParseTimestampMs(timestamp);
    if (!t.ok()) return t.status();
    auto it = first_row.find(*t);
    if (it == first_row.end()) {
      return absl::NotFoundError(absl::StrCat("no row has the window timestamp ", timestamp));
    }
    return it->second;
  };
  std::vector<Window> rows;
  for (const auto& [start, end] : windows) {
    absl::StatusOr<int64_t> first = row_of(start);
    if (!first.ok()) return first.status();
    absl::StatusOr<int64_t> last = row_of(end);
    if (!last.ok()) return last.status();
    rows.push_back({*first, *last});
  }
  return rows;
}

absl::StatusOr<std::vector<CorpusFile>> LoadCorpus(const std::filesystem::path& dir) {
  const std::filesystem::path labels_path = dir / "labels" / "combined_windows.json";
  absl::StatusOr<std::string> labels_text = ReadFile(labels_path);
  if (!labels_text.ok()) return labels_text.status();
  absl::StatusOr<std::map<std::string, std::vector<LabelWindow>>> labels =
      ParseWindowsJson(*labels_text);
  if (!labels.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path.string(), ": ", labels.status().message()));
  }

  // (category, name) of every data/<category>/<name>.csv, sorted.
  std::set<std::pair<std::string, std::string>> found;
  std::error_code error;
  for (const auto& category : std::filesystem::directory_iterator(dir / "data", error)) {
    if (!category.is_directory()) continue;
    for (const auto& entry : std::filesystem::directory_iterator(category.path(), error)) {
      if (entry.path().extension() != ".csv") continue;
      found.emplace(category.path().filename().string(), entry.path().stem().string());
    }
    if (error) break;
  }
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("cannot list ", (dir / "data").string(), ": ", error.message()));
  }

  std::vector<CorpusFile> corpus;
  for (const auto& [category, name] : found) {
    const std::string key = absl::StrCat(category, "/", name, ".csv");
    auto windows = labels->find(key);
    if (windows == labels->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(labels_path.string(), " has no entry for data file ", key));
    }
    absl::StatusOr<CorpusFile> file =
        LoadFile(dir / "data" / category / (name + ".csv"), category, name, windows->second);
    if (!file.ok()) return file.status();
    corpus.push_back(*std::move(file));
  }
  if (corpus.size() != labels->size()) {
    for (const auto& [key, windows] : *labels) {
      const bool listed = std::any_of(corpus.begin(), corpus.end(),
                                      [&](const CorpusFile& f) { return f.labels.key == key; });
      if (!listed) {
        return absl::InvalidArgumentError(
            absl::StrCat(labels_path.string(), " labels ", key, ", which is not a data file"));
      }
    }
  }
  return corpus;
}

std::filesystem::path ResultPath(const std::filesystem::path& out, std::string_view detector,
                                 const CorpusFile& file) {
  return out / std::string(detector) / file.labels.category /
         absl::StrCat(std::string(detector), "_", file.name, ".csv");
}

absl::Status WriteResults(const std::filesystem::path& path, const CorpusFile& file,
                          const std::vector<double>& scores) {
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create ", path.parent_path().string(), ": ", error.message()));
  }
  std::string text = "timestamp,value,anomaly_score\n";
  char score[32];
  for (size_t i = 0; i < scores.size(); ++i) {
    // The shortest text that reads back as the same double: the threshold
    // sweep sees the detector's full resolution.
    const std::to_chars_result r = std::to_chars(score, score + sizeof(score), scores[i]);
    absl::StrAppend(&text, file.timestamps[i], ",", file.value_texts[i], ",",
                    absl::string_view(score, r.ptr - score), "\n");
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> ReadResultScores(const std::filesystem::path& path) {
  absl::StatusOr<CsvTable> table = ReadCsv(path);
  if (!table.ok()) return table.status();
  std::vector<std::string>* column = table->Column("anomaly_score");
  if (column == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": no anomaly_score column"));
  }
  std::vector<double> scores(column->size());
  for (size_t i = 0; i < column->size(); ++i) {
    if (!ParseDouble((*column)[i], &scores[i])) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ": data row ", i,
                                                     " has anomaly_score \"", (*column)[i],
                                                     "\", not a number"));
    }
  }
  return scores;
}

}  // namespace kad::nab
