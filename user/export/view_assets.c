// SPDX-License-Identifier: MIT
/*
 * The task view's page, compiled into the binary: the assembler includes
 * the files of user/export/view/ byte for byte (.incbin, paths from the repository
 * root, where make runs), so there is no build step and nothing to fetch.
 */
#include <string.h>

#include "export/view.h"

#define ASSET(sym, file)                                                                           \
	__asm__(".section .rodata\n"                                                               \
		".balign 16\n"                                                                     \
		".global " #sym "\n" #sym ":\n"                                                    \
		".incbin \"" file "\"\n"                                                           \
		".global " #sym "_end\n" #sym "_end:\n"                                            \
		".byte 0\n"                                                                        \
		".previous\n");                                                                    \
	extern const unsigned char sym[], sym##_end[]

ASSET(tt_view_index_html, "user/export/view/index.html");
ASSET(tt_view_js, "user/export/view/view.js");
ASSET(tt_view_css, "user/export/view/view.css");
ASSET(tt_view_icon, "user/export/view/favicon.svg");

const struct tt_view_asset *tt_view__asset(const char *path)
{
	static struct tt_view_asset assets[] = {
		{"/", "text/html; charset=utf-8", NULL, 0},
		{"/index.html", "text/html; charset=utf-8", NULL, 0},
		{"/view.js", "text/javascript; charset=utf-8", NULL, 0},
		{"/view.css", "text/css; charset=utf-8", NULL, 0},
		{"/favicon.svg", "image/svg+xml", NULL, 0},
	};

	if (!assets[0].data) {
		assets[0].data = assets[1].data = tt_view_index_html;
		assets[0].len = assets[1].len =
			(size_t)(tt_view_index_html_end - tt_view_index_html);
		assets[2].data = tt_view_js;
		assets[2].len = (size_t)(tt_view_js_end - tt_view_js);
		assets[3].data = tt_view_css;
		assets[3].len = (size_t)(tt_view_css_end - tt_view_css);
		assets[4].data = tt_view_icon;
		assets[4].len = (size_t)(tt_view_icon_end - tt_view_icon);
	}
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		if (strcmp(path, assets[i].path) == 0)
			return &assets[i];
	}
	return NULL;
}
