// SPDX-License-Identifier: MIT
/*
 * What the LANai target lacks: integer multiply and divide (no hardware
 * for them, clang calls these), and memcpy/memset (the compiler may call
 * them for struct copies). Built with -fno-builtin so no loop below is
 * turned back into a call to itself.
 */
typedef unsigned int u32;

u32 __mulsi3(u32 a, u32 b);
u32 __udivsi3(u32 n, u32 d);
u32 __umodsi3(u32 n, u32 d);
int __divsi3(int n, int d);
int __modsi3(int n, int d);
void *memcpy(void *dst, const void *src, unsigned long n);
void *memset(void *dst, int c, unsigned long n);
void *memmove(void *dst, const void *src, unsigned long n);

u32 __mulsi3(u32 a, u32 b)
{
	u32 r = 0;

	while (b) {
		if (b & 1)
			r += a;
		a <<= 1;
		b >>= 1;
	}
	return r;
}

/* Shift-subtract division; *rem gets the remainder. Division by 0 gives 0. */
static u32 udivmod(u32 n, u32 d, u32 *rem)
{
	u32 q = 0, r = 0;
	int i;

	if (d == 0) {
		*rem = n;
		return 0;
	}
	for (i = 31; i >= 0; i--) {
		r = (r << 1) | ((n >> i) & 1);
		if (r >= d) {
			r -= d;
			q |= 1u << i;
		}
	}
	*rem = r;
	return q;
}

u32 __udivsi3(u32 n, u32 d)
{
	u32 r;

	return udivmod(n, d, &r);
}

u32 __umodsi3(u32 n, u32 d)
{
	u32 r;

	udivmod(n, d, &r);
	return r;
}

static u32 uabs(int v)
{
	return v < 0 ? 0u - (u32)v : (u32)v;
}

int __divsi3(int n, int d)
{
	u32 r, q = udivmod(uabs(n), uabs(d), &r);

	return (n < 0) != (d < 0) ? -(int)q : (int)q;
}

int __modsi3(int n, int d)
{
	u32 r;

	udivmod(uabs(n), uabs(d), &r);
	return n < 0 ? -(int)r : (int)r;
}

void *memcpy(void *dst, const void *src, unsigned long n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, unsigned long n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d <= s)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

void *memset(void *dst, int c, unsigned long n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}
