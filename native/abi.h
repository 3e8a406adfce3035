// apimguard's declarations of the part of Envoy 1.40.0's dynamic-module ABI
// it uses (see abi.go). Written from the ABI's documentation and header.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// A buffer: a pointer and a length (envoy_dynamic_module_type_module_buffer
// and _envoy_buffer; the same layout either way).
typedef struct {
  const char* ptr;
  size_t length;
} apimguard_buffer;

// A header: key and value (envoy_dynamic_module_type_module_http_header
// and _envoy_http_header).
typedef struct {
  const char* key_ptr;
  size_t key_length;
  const char* value_ptr;
  size_t value_length;
} apimguard_header;

// kind: 0 request headers, 2 response headers (the ABI's
// envoy_dynamic_module_type_http_header_type).
bool envoy_dynamic_module_callback_http_get_header(uintptr_t filter, int kind, apimguard_buffer key,
    apimguard_buffer* result, size_t index, size_t* count);
size_t envoy_dynamic_module_callback_http_get_headers_size(uintptr_t filter, int kind);
bool envoy_dynamic_module_callback_http_get_headers(uintptr_t filter, int kind, apimguard_header* result);
// A value with a null pointer removes the header.
bool envoy_dynamic_module_callback_http_set_header(uintptr_t filter, int kind, apimguard_buffer key,
    apimguard_buffer value);
bool envoy_dynamic_module_callback_http_add_header(uintptr_t filter, int kind, apimguard_buffer key,
    apimguard_buffer value);
void envoy_dynamic_module_callback_http_send_response(uintptr_t filter, uint32_t status,
    apimguard_header* headers, size_t count, apimguard_buffer body, apimguard_buffer details);
// id: envoy_dynamic_module_type_attribute_id (24: source.address).
bool envoy_dynamic_module_callback_http_filter_get_attribute_string(uintptr_t filter, int id,
    apimguard_buffer* result);
// level: 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 critical.
void envoy_dynamic_module_callback_log(int level, apimguard_buffer message);
