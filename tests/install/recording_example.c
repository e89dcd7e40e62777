/*
 * The installed recording module (<ringbuf/recording.h>, pkg-config
 * ringbuf-recording) in use: writes a one-frame recording with the
 * module's records (header, descriptor page, frame region, summary), then
 * walks it with the module's reader and checks the frame's checksum.
 * Prints "recording: 1 frame, seq 7, 4096 bytes, intact, end".
 */
#include <ringbuf/recording.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "example.rbrec";
	static const char text[] = "source=example\n";
	struct rb_rec_header h = {0};
	struct rb_rec_summary s = {0};
	struct rb_rec_reader rd;
	struct rb_rec_entry e;
	static struct rb_rec_page page;
	static uint8_t frame[4096], hbuf[RB_REC_PAGE];
	int fd, rc, n = 0;

	memset(frame, 0x5a, sizeof(frame));
	h.version = RB_REC_VERSION;
	h.text_bytes = sizeof(text) - 1;
	h.header_bytes = rb_rec_header_bytes(h.text_bytes);
	h.page_bytes = RB_REC_PAGE;
	h.page_entries = RB_REC_PAGE_ENTRIES;
	h.recording_id = 0x1234567;
	h.frame_bytes = sizeof(frame);
	h.slot_stride = sizeof(frame);
	rb_rec_header_encode(hbuf, &h, text);

	page.recording_id = h.recording_id;
	page.count = 1;
	page.page_offset = h.header_bytes;
	page.next_offset = page.page_offset + RB_REC_PAGE + sizeof(frame);
	page.entries[0].seq = 7;
	page.entries[0].length = sizeof(frame);
	page.entries[0].data_offset = page.page_offset + RB_REC_PAGE;
	page.entries[0].data_crc = rb_rec_crc32c(0, frame, sizeof(frame));
	rb_rec_page_seal(&page);

	s.entries = 1;
	s.data_bytes = sizeof(frame);
	s.end_offset = page.next_offset;
	s.first_seq = s.last_seq = 7;
	rb_rec_summary_encode(hbuf, &s);

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || pwrite(fd, hbuf, sizeof(hbuf), 0) != (ssize_t)sizeof(hbuf) ||
	    pwrite(fd, &page, sizeof(page), page.page_offset) != (ssize_t)sizeof(page) ||
	    pwrite(fd, frame, sizeof(frame), page.entries[0].data_offset) != (ssize_t)sizeof(frame)) {
		perror(path);
		return 1;
	}
	close(fd);

	if ((rc = rb_rec_reader_open(&rd, path, false)) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		return 1;
	}
	while ((rc = rb_rec_reader_next(&rd, &e)) == 1) {
		uint8_t buf[4096];
		bool intact = pread(rd.fd, buf, e.length, (off_t)e.data_offset) == (ssize_t)e.length &&
			      rb_rec_frame_intact(&rd.h, &e, buf);

		printf("recording: 1 frame, seq %llu, %llu bytes, %s, ", (unsigned long long)e.seq,
		       (unsigned long long)e.length, intact ? "intact" : "DAMAGED");
		n++;
	}
	printf("%s\n", rc < 0 ? "read error" : rd.stop);
	rb_rec_reader_close(&rd);
	unlink(path);
	return rc == 0 && n == 1 ? 0 : 1;
}
