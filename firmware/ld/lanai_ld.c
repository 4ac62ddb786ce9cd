// SPDX-License-Identifier: MIT
/*
 * lanai_ld: the final link of the LANai firmware, which no stock linker
 * does. Reads ELF32 big-endian relocatable objects (EM_LANAI), lays their
 * allocated sections out from address 0 (.text.start first, then text,
 * read-only data, data, bss), resolves symbols, applies the R_LANAI_*
 * relocations and writes a flat SRAM image plus a text map:
 *
 *   lanai_ld -o image.bin -m image.map [--max BYTES] [--entry SYM] a.o b.o
 *
 * The map lists "entry", "image", every section, every symbol and every
 * R_LANAI_25 branch it patched ("branch PLACE TARGET SYMBOL"), and every
 * 21-bit absolute ("abs21 PLACE VALUE SYMBOL"). Exit status
 * 1 on any error, including an image larger than --max.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_LANAI 244
#define SHT_PROGBITS 1
#define SHT_SYMTAB 2
#define SHT_RELA 4
#define SHT_NOBITS 8
#define SHF_ALLOC 0x2
#define SHN_UNDEF 0
#define SHN_ABS 0xfff1
#define SHN_COMMON 0xfff2
#define STB_LOCAL 0

/* Relocation types (LLVM's ELFRelocs/Lanai.def). */
enum { R_NONE = 0, R_21 = 1, R_21_F = 2, R_25 = 3, R_32 = 4, R_HI16 = 5, R_LO16 = 6 };

#define MAX_OBJS 32
#define MAX_SECS 64
#define MAX_GLOBALS 1024
#define N_CLASSES 5

struct sec {
	const char *name;
	uint32_t type, flags, off, size, align, link, info;
	uint32_t addr; /* assigned */
	int cls;       /* layout class, -1 if not allocated */
};

struct obj {
	const char *path;
	uint8_t *data;
	size_t len;
	uint32_t nsec;
	struct sec sec[MAX_SECS];
	uint32_t symtab; /* section index */
};

struct global {
	const char *name;
	uint32_t addr;
};

static struct obj objs[MAX_OBJS];
static int nobjs;
static struct global globals[MAX_GLOBALS];
static int nglobals;
static uint8_t *image;
static uint32_t image_end, data_end;
static FILE *map;

static void die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "lanai_ld: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	exit(1);
}

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static const uint8_t *at(const struct obj *o, uint32_t off, uint32_t len)
{
	if (off > o->len || len > o->len - off)
		die("%s: truncated ELF%s", o->path, "");
	return o->data + off;
}

static void read_file(struct obj *o, const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		die("%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	o->path = path;
	o->len = (size_t)n;
	o->data = malloc(o->len ? o->len : 1);
	if (!o->data || fread(o->data, 1, o->len, f) != o->len)
		die("%s: cannot read%s", path, "");
	fclose(f);
}

/* Layout class of an allocated section, by name. */
static int classify(const struct sec *s)
{
	if (!(s->flags & SHF_ALLOC) || (s->type != SHT_PROGBITS && s->type != SHT_NOBITS))
		return -1;
	if (s->size == 0)
		return -1;
	if (!strcmp(s->name, ".text.start"))
		return 0;
	if (s->type == SHT_NOBITS)
		return 4;
	if (!strncmp(s->name, ".text", 5))
		return 1;
	if (!strncmp(s->name, ".rodata", 7))
		return 2;
	return 3;
}

static void parse(struct obj *o)
{
	const uint8_t *h = at(o, 0, 52), *sh, *strs;
	uint32_t shoff, shnum, shstrndx, i;

	if (memcmp(h, "\177ELF", 4) || h[4] != 1 || h[5] != 2)
		die("%s: not an ELF32 big-endian object%s", o->path, "");
	if (be16(h + 16) != 1 || be16(h + 18) != EM_LANAI)
		die("%s: not a LANai relocatable object%s", o->path, "");
	shoff = be32(h + 32);
	shnum = be16(h + 48);
	shstrndx = be16(h + 50);
	if (shnum > MAX_SECS || shstrndx >= shnum)
		die("%s: too many sections%s", o->path, "");
	o->nsec = shnum;
	strs = at(o, be32(at(o, shoff + shstrndx * 40 + 16, 4)), 0);
	for (i = 0; i < shnum; i++) {
		struct sec *s = &o->sec[i];

		sh = at(o, shoff + i * 40, 40);
		s->name = (const char *)strs + be32(sh);
		s->type = be32(sh + 4);
		s->flags = be32(sh + 8);
		s->off = be32(sh + 16);
		s->size = be32(sh + 20);
		s->link = be32(sh + 24);
		s->info = be32(sh + 28);
		s->align = be32(sh + 32) ? be32(sh + 32) : 1;
		s->cls = classify(s);
		if (s->type == SHT_SYMTAB)
			o->symtab = i;
	}
	if (!o->symtab)
		die("%s: no symbol table%s", o->path, "");
}

static void layout(void)
{
	uint32_t addr = 0;

	for (int c = 0; c < N_CLASSES; c++) {
		for (int k = 0; k < nobjs; k++) {
			for (uint32_t i = 0; i < objs[k].nsec; i++) {
				struct sec *s = &objs[k].sec[i];

				if (s->cls != c)
					continue;
				addr = (addr + s->align - 1) & ~(s->align - 1);
				s->addr = addr;
				addr += s->size;
				fprintf(map, "section 0x%08x 0x%06x %-14s %s\n", s->addr, s->size,
					s->name, objs[k].path);
			}
		}
		if (c == 3)
			data_end = addr;
	}
	image_end = addr;
}

struct sym {
	const char *name;
	uint32_t value, shndx, bind;
};

static struct sym symbol(const struct obj *o, uint32_t idx)
{
	const struct sec *st = &o->sec[o->symtab];
	const uint8_t *p = at(o, st->off + idx * 16, 16);
	const char *strs = (const char *)at(o, o->sec[st->link].off, 0);
	struct sym s = { strs + be32(p), be32(p + 4), be16(p + 14), (uint32_t)p[12] >> 4 };

	return s;
}

static int find_global(const char *name, uint32_t *addr)
{
	for (int i = 0; i < nglobals; i++) {
		if (!strcmp(globals[i].name, name)) {
			*addr = globals[i].addr;
			return 1;
		}
	}
	return 0;
}

static uint32_t defined_addr(const struct obj *o, const struct sym *s)
{
	if (s->shndx == SHN_ABS)
		return s->value;
	if (s->shndx == SHN_COMMON)
		die("%s: common symbol %s (build with -fno-common)", o->path, s->name);
	if (s->shndx >= o->nsec || o->sec[s->shndx].cls < 0)
		die("%s: symbol %s in a section not loaded", o->path, s->name);
	return o->sec[s->shndx].addr + s->value;
}

static void collect_globals(void)
{
	uint32_t addr;

	for (int k = 0; k < nobjs; k++) {
		const struct obj *o = &objs[k];
		uint32_t n = o->sec[o->symtab].size / 16;

		for (uint32_t i = 1; i < n; i++) {
			struct sym s = symbol(o, i);

			if (s.bind == STB_LOCAL || s.shndx == SHN_UNDEF)
				continue;
			if (find_global(s.name, &addr))
				die("symbol %s defined twice (%s)", s.name, o->path);
			if (nglobals == MAX_GLOBALS)
				die("too many symbols%s%s", "", "");
			globals[nglobals].name = s.name;
			globals[nglobals].addr = defined_addr(o, &s);
			fprintf(map, "symbol 0x%08x %s\n", globals[nglobals].addr, s.name);
			nglobals++;
		}
	}
}

static uint32_t resolve(const struct obj *o, uint32_t idx, const char **name)
{
	struct sym s = symbol(o, idx);
	uint32_t addr;

	*name = s.name[0] ? s.name : o->sec[s.shndx < o->nsec ? s.shndx : 0].name;
	if (s.shndx != SHN_UNDEF)
		return defined_addr(o, &s);
	if (!find_global(s.name, &addr))
		die("undefined symbol %s (in %s)", s.name, o->path);
	return addr;
}

/* Puts v into the instruction field of a relocation type; 0 or -1 if it does not fit. */
static int patch(uint8_t *p, uint32_t type, uint32_t v)
{
	uint32_t w = be32(p);

	switch (type) {
	case R_32:
		w = v;
		break;
	case R_25: /* absolute branch target, word aligned */
		if (v & ~0x1fffffcu)
			return -1;
		w = (w & ~0x1fffffcu) | v;
		break;
	case R_21:   /* 21 bits: [15:0] in place, [20:16] at [22:18] */
	case R_21_F: /* the same, the low two bits left as flags */
		if (v & ~0x1fffffu || (type == R_21_F && (v & 3)))
			return -1;
		w = (w & ~(type == R_21 ? 0x7cffffu : 0x7cfffcu)) | (v & 0xffffu) |
		    ((v & 0x1f0000u) << 2);
		break;
	case R_HI16:
		w = (w & 0xffff0000u) | (v >> 16);
		break;
	case R_LO16:
		w = (w & 0xffff0000u) | (v & 0xffffu);
		break;
	case R_NONE:
		return 0;
	default:
		return -1;
	}
	put_be32(p, w);
	return 0;
}

static void relocate_section(const struct obj *o, const struct sec *rs)
{
	const struct sec *target = &o->sec[rs->info];
	uint32_t n = rs->size / 12;

	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *r = at(o, rs->off + i * 12, 12);
		uint32_t off = be32(r), info = be32(r + 4), type = info & 0xff;
		int32_t addend = (int32_t)be32(r + 8);
		const char *name;
		uint32_t v = resolve(o, info >> 8, &name) + (uint32_t)addend;
		uint32_t place = target->addr + off;

		if (off > target->size - 4)
			die("%s: relocation outside %s", o->path, target->name);
		if (patch(image + place, type, v))
			die("relocation to %s does not fit (%s)", name, o->path);
		if (type == R_25)
			fprintf(map, "branch 0x%08x 0x%08x %s\n", place, v, name);
		else if (type == R_21 || type == R_21_F)
			fprintf(map, "abs21 0x%08x 0x%08x %s\n", place, v, name);
	}
}

static void load_and_relocate(void)
{
	for (int k = 0; k < nobjs; k++) {
		const struct obj *o = &objs[k];

		for (uint32_t i = 0; i < o->nsec; i++) {
			const struct sec *s = &o->sec[i];

			if (s->cls >= 0 && s->type == SHT_PROGBITS)
				memcpy(image + s->addr, at(o, s->off, s->size), s->size);
		}
	}
	for (int k = 0; k < nobjs; k++) {
		const struct obj *o = &objs[k];

		for (uint32_t i = 0; i < o->nsec; i++) {
			const struct sec *s = &o->sec[i];

			if (s->type == SHT_RELA && s->info < o->nsec && o->sec[s->info].cls >= 0)
				relocate_section(o, s);
		}
	}
}

static void write_image(const char *path)
{
	FILE *f = fopen(path, "wb");

	/* bss included: the image is exactly what SRAM holds from 0. */
	if (!f || fwrite(image, 1, image_end, f) != image_end || fclose(f))
		die("%s: cannot write%s", path, "");
}

int main(int argc, char **argv)
{
	const char *out = NULL, *map_path = NULL, *entry = "_start";
	unsigned long max = 0;
	uint32_t entry_addr;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "-m") && i + 1 < argc)
			map_path = argv[++i];
		else if (!strcmp(argv[i], "--max") && i + 1 < argc)
			max = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--entry") && i + 1 < argc)
			entry = argv[++i];
		else if (nobjs < MAX_OBJS)
			read_file(&objs[nobjs++], argv[i]);
		else
			die("too many objects%s%s", "", "");
	}
	if (!out || !map_path || !nobjs)
		die("usage: lanai_ld -o image -m map [--max N] [--entry SYM] objs...%s%s", "", "");
	map = fopen(map_path, "w");
	if (!map)
		die("%s: %s", map_path, strerror(errno));
	for (i = 0; i < nobjs; i++)
		parse(&objs[i]);
	layout();
	collect_globals();
	if (!find_global(entry, &entry_addr))
		die("no entry symbol %s%s", entry, "");
	image = calloc(1, image_end ? image_end : 4);
	if (!image)
		die("out of memory%s%s", "", "");
	load_and_relocate();
	fprintf(map, "entry 0x%08x %s\n", entry_addr, entry);
	fprintf(map, "image 0x%08x data_end 0x%08x max 0x%08lx\n", image_end, data_end, max);
	fclose(map);
	if (max && image_end > max) {
		fprintf(stderr, "lanai_ld: image is %u bytes, over its budget of %lu\n", image_end,
			max);
		return 1;
	}
	write_image(out);
	return 0;
}
