#ifndef DOCSHARE_TESTS_PIPELINE_READBACK_H_
#define DOCSHARE_TESTS_PIPELINE_READBACK_H_

// Test-only: decode a rendered preview again with libvips to check what it
// really holds (pixels, frames, delays, metadata fields).

#include <string>
#include <vector>
#include <vips/vips8>

#include "gtest/gtest.h"
#include "service/common/types.h"
#include "service/pipeline/vips_boundary.h"

namespace docshare::testing {

struct Readback {
  vips::VImage image;  // in memory, all pages
  int width = 0;
  int page_height = 0;
  int pages = 1;
  int bands = 0;
  std::vector<int> delay;
  int loop = -1;
  std::vector<std::string> fields;  // every metadata field name
};

// Fields that would carry something of the original file.
inline std::vector<std::string> ForbiddenFields(const std::vector<std::string>& fields) {
  std::vector<std::string> bad;
  for (const std::string& f : fields) {
    if (f == "exif-data" || f == "xmp-data" || f == "icc-profile-data" ||
        f == "iptc-data" || f == "gif-comment" || f == "orientation" ||
        f.rfind("exif-", 0) == 0 || f.rfind("png-comment", 0) == 0) {
      bad.push_back(f);
    }
  }
  return bad;
}

// The service blocks every loader but JPEG, PNG and GIF; a test reading a
// WebP preview back unblocks the WebP buffer loader for itself.
inline Readback ReadPreview(const Preview& preview) {
  Readback out;
  if (!preview.data) {
    ADD_FAILURE() << "preview without data";
    return out;
  }
  VipsBlob* blob = vips_blob_new(nullptr, preview.data->data(), preview.data->size());
  vips::VOption* options = vips::VImage::option()->set("fail_on", VIPS_FAIL_ON_ERROR);
  try {
    if (preview.mime_type == "image/webp") {
      vips_operation_block_set("VipsForeignLoadWebpBuffer", FALSE);
      out.image =
          vips::VImage::webpload_buffer(blob, options->set("n", -1)).copy_memory();
      vips_operation_block_set("VipsForeignLoadWebpBuffer", TRUE);
    } else if (preview.mime_type == "image/gif") {
      out.image = vips::VImage::gifload_buffer(blob, options->set("n", -1)).copy_memory();
    } else if (preview.mime_type == "image/png") {
      out.image = vips::VImage::pngload_buffer(blob, options).copy_memory();
    } else if (preview.mime_type == "image/jpeg") {
      out.image = vips::VImage::jpegload_buffer(blob, options).copy_memory();
    } else {
      ADD_FAILURE() << "unexpected preview type " << preview.mime_type;
      vips_area_unref(VIPS_AREA(blob));
      return out;
    }
  } catch (const vips::VError& e) {
    vips_operation_block_set("VipsForeignLoadWebpBuffer", TRUE);
    vips_area_unref(VIPS_AREA(blob));
    ADD_FAILURE() << "preview does not decode: " << e.what();
    return out;
  }
  vips_area_unref(VIPS_AREA(blob));
  out.width = out.image.width();
  out.page_height = vips_image_get_page_height(out.image.get_image());
  out.pages = out.image.height() / out.page_height;
  out.bands = out.image.bands();
  if (out.image.get_typeof("delay") != 0) out.delay = out.image.get_array_int("delay");
  if (out.image.get_typeof("loop") != 0) out.loop = out.image.get_int("loop");
  gchar** fields = vips_image_get_fields(out.image.get_image());
  for (gchar** f = fields; *f != nullptr; ++f) out.fields.push_back(*f);
  g_strfreev(fields);
  return out;
}

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_PIPELINE_READBACK_H_
