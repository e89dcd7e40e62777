#include "program_support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <jansson.h>
#include <stdexcept>

namespace rbt {

// ---- Json -------------------------------------------------------------------

const Json &Json::operator[](const char *key) const
{
	auto it = obj.find(key);
	if (kind != Object || it == obj.end())
		throw std::runtime_error(std::string("no JSON member ") + key);
	return it->second;
}

const Json &Json::at(size_t i) const
{
	if (kind != Array || i >= arr.size())
		throw std::runtime_error("JSON index out of range");
	return arr[i];
}

uint64_t Json::u64() const
{
	if (kind != Number || num < 0 || num != std::floor(num))
		throw std::runtime_error("not a JSON count");
	return (uint64_t)num;
}

double Json::d() const
{
	if (kind != Number)
		throw std::runtime_error("not a JSON number");
	return num;
}

const std::string &Json::s() const
{
	if (kind != String)
		throw std::runtime_error("not a JSON string");
	return str;
}

namespace {

// jansson's tree into the tests' Json. Integers keep their exact value in
// `num` up to 2^53, which is more than any test's counts reach.
Json from_jansson(const json_t *v)
{
	Json out;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *member;
		out.kind = Json::Object;
		json_object_foreach(const_cast<json_t *>(v), key, member)
			out.obj[key] = from_jansson(member);
		break;
	}
	case JSON_ARRAY:
		out.kind = Json::Array;
		for (size_t i = 0; i < json_array_size(v); i++)
			out.arr.push_back(from_jansson(json_array_get(v, i)));
		break;
	case JSON_STRING:
		out.kind = Json::String;
		out.str.assign(json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		out.kind = Json::Number;
		out.num = json_number_value(v);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		out.kind = Json::Bool;
		out.b = json_is_true(v);
		break;
	case JSON_NULL:
		break;
	}
	return out;
}

} // namespace

Json parse_json(const std::string &text)
{
	// Strict on purpose: duplicate keys are failures, and so is anything
	// after the value.
	json_error_t error;
	json_t *root = json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, &error);
	if (root == nullptr)
		throw std::runtime_error(std::string("bad JSON: ") + error.text + " at " +
					 std::to_string(error.position) + " in: " + text);
	Json v = from_jansson(root);
	json_decref(root);
	return v;
}

Json parse_summary(const std::string &text)
{
	INFO("summary: " << text);
	REQUIRE(!text.empty());
	REQUIRE(text.back() == '\n');
	REQUIRE(text.find('\n') == text.size() - 1);
	Json v = parse_json(text);
	REQUIRE(v.kind == Json::Object);
	return v;
}

// ---- running the programs -------------------------------------------------

Capture::Capture()
{
	char path[] = "/tmp/rb-test-out-XXXXXX";
	fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
}

Capture::~Capture()
{
	if (fd >= 0)
		close(fd);
}

std::string Capture::text() const
{
	std::string out;
	char buf[65536];
	off_t off = 0;
	ssize_t n;
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		out.append(buf, (size_t)n);
		off += n;
	}
	return out;
}

Proc::Proc(const std::vector<std::string> &args, int stdout_fd, PreExec pre_exec)
{
	// The child gets its own copy: args may be a temporary of the caller's.
	std::vector<std::string> copy = args;
	int out_fd = stdout_fd >= 0 ? stdout_fd : out.fd, err_fd = err.fd;
	spawn(child, [copy, out_fd, err_fd, pre_exec]() {
		std::vector<char *> argv;
		for (const std::string &a : copy)
			argv.push_back(const_cast<char *>(a.c_str()));
		argv.push_back(nullptr);
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			return 126;
		if (pre_exec != nullptr && !pre_exec())
			return 125;
		execv(argv[0], argv.data());
		return 127;
	});
	REQUIRE(child.pid > 0);
}

std::string producer_path() { return program("producer/rb-producer"); }
std::string consumer_path() { return program("consumer/rb-consumer"); }

bool Watch::open(const std::string &name, int timeout_ms)
{
	return eventually([&] { return rb_ring_open(name.c_str(), &ring) == 0; }, timeout_ms);
}

rb_ring_status Watch::status()
{
	rb_ring_status st;
	rb_ring_get_status(ring, &st);
	return st;
}

bool Watch::consumers(uint32_t n, int timeout_ms)
{
	return eventually([&] { return status().consumers >= n; }, timeout_ms);
}

bool Watch::frames(uint64_t n, int timeout_ms)
{
	return eventually([&] {
		rb_ring_status st = status();
		return st.write_seq - st.initial_seq >= n;
	}, timeout_ms);
}

} // namespace rbt
